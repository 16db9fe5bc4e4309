variable "name" {
  description = "Name of the role's IAM role and instance profile, e.g. \"cellkv-prod-nats\"."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,50}$", var.name))
    error_message = "name must be 2-51 characters of [a-z0-9-], starting with a letter."
  }
}

variable "region" {
  description = "AWS region of the secrets and the release bucket."
  type        = string
}

variable "service_user" {
  description = "System user the role's service runs as (created at first boot)."
  type        = string

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,30}$", var.service_user))
    error_message = "service_user must be a valid Linux user name."
  }
}

variable "files" {
  description = "Files written at first boot (configuration, systemd units, scripts)."
  type = list(object({
    path        = string
    content     = string
    permissions = string
  }))

  validation {
    condition     = alltrue([for f in var.files : startswith(f.path, "/") && can(regex("^0[0-7]{3}$", f.permissions))])
    error_message = "every file needs an absolute path and octal permissions such as \"0644\"."
  }
}

variable "env_secret_arns" {
  description = "Environment variable name => Secrets Manager ARN; fetched before each service start into a root-only EnvironmentFile."
  type        = map(string)
  sensitive   = true

  validation {
    condition     = alltrue([for k, arn in var.env_secret_arns : can(regex("^[A-Z_][A-Z0-9_]*$", k)) && can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", arn))])
    error_message = "keys must be environment variable names and values Secrets Manager secret ARNs."
  }
}

variable "file_secret_arns" {
  description = "Absolute file path => Secrets Manager ARN of a PEM document (e.g. a TLS private key), written readable by root and service_user only."
  type        = map(string)
  sensitive   = true

  validation {
    condition     = alltrue([for p, arn in var.file_secret_arns : startswith(p, "/") && can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", arn))])
    error_message = "keys must be absolute paths and values Secrets Manager secret ARNs."
  }
}

variable "release_s3_uri" {
  description = "s3://bucket/key.tgz of the cellkv release (the repository after `npm ci`), unpacked to /opt/cellkv/current; null for roles that do not run cellkv code."
  type        = string
  default     = null

  validation {
    condition     = var.release_s3_uri == null || can(regex("^s3://[a-z0-9.-]{3,63}/.+\\.tgz$", var.release_s3_uri))
    error_message = "release_s3_uri must look like s3://bucket/path/cellkv-<version>.tgz."
  }
}

variable "boot_commands" {
  description = "Commands (argv lists) run once at first boot after the files are written, before the units start."
  type        = list(list(string))
  default     = []
}

variable "units" {
  description = "systemd units enabled and started at first boot."
  type        = list(string)

  validation {
    condition     = length(var.units) > 0
    error_message = "at least one unit must be started."
  }
}

variable "extra_policy_statements" {
  description = "Further IAM statements for the role (e.g. EC2 discovery for Prometheus)."
  type = list(object({
    actions   = list(string)
    resources = list(string)
  }))
  default = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
