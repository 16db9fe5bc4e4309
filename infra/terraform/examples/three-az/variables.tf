variable "region" {
  description = "AWS region, e.g. eu-west-1."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "name" {
  description = "Name of this deployment; prefixes every resource."
  type        = string
  default     = "cellkv"
}

variable "azs" {
  description = "Exactly three distinct availability zones of the region."
  type        = list(string)

  validation {
    condition     = length(var.azs) == 3 && length(distinct(var.azs)) == 3
    error_message = "azs must list exactly three distinct availability zones."
  }
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "lb_client_cidrs" {
  description = "Who may reach the HTTPS API."
  type        = list(string)
}

variable "nats_client_cidrs" {
  description = "Platform services that may use the NATS front door."
  type        = list(string)
  default     = []
}

variable "prometheus_client_cidrs" {
  description = "Who may reach Prometheus."
  type        = list(string)
  default     = []
}

variable "ami_id" {
  description = "One image for every role: Node.js 20 (/usr/bin/node), nats-server (/usr/local/bin), Prometheus and promtool (/usr/local/bin), AWS CLI v2, python3, xfsprogs."
  type        = string
}

variable "release_s3_uri" {
  description = "s3://bucket/cellkv-<version>.tgz: the repository after `npm ci`."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate of the API's HTTPS listener."
  type        = string
}

variable "jwks_url" {
  description = "JWKS URL of the tenant token issuer."
  type        = string
}

variable "issuer" {
  description = "Expected token issuer."
  type        = string
}

variable "audience" {
  description = "Expected token audience."
  type        = string
}

variable "nats_tls_ca_file" {
  description = "Path of the PEM CA certificate of the NATS servers."
  type        = string
}

variable "nats_tls_cert_file" {
  description = "Path of the PEM certificate of the NATS servers (SANs: nats-<az>.<internal zone> for each AZ)."
  type        = string
}

variable "nats_tls_key_secret_arn" {
  description = "Secrets Manager ARN of that certificate's private key (PEM)."
  type        = string
  sensitive   = true
}

variable "nats_gateway_password_secret_arn" {
  description = "Secrets Manager ARN of the NATS password of the gateways."
  type        = string
  sensitive   = true
}

variable "nats_cell_password_secret_arn" {
  description = "Secrets Manager ARN of the NATS password of the cell nodes."
  type        = string
  sensitive   = true
}

variable "nats_platform_password_secret_arn" {
  description = "Secrets Manager ARN of the NATS password of platform services."
  type        = string
  sensitive   = true
}

variable "gateway_session_secret_arn" {
  description = "Secrets Manager ARN of the gateways' shared session-token HMAC secret."
  type        = string
  sensitive   = true
}

variable "canary_token_secret_arn" {
  description = "Secrets Manager ARN of the canary's JWT (tenant cellkv-canary, scopes kv:read kv:write)."
  type        = string
  sensitive   = true
}

variable "canary_rate" {
  description = "Canary ops/s on each gateway host."
  type        = number
  default     = 10
}

variable "backup_every" {
  description = "Interval between scheduled backups (1m-7d)."
  type        = string
  default     = "1h"
}

variable "backup_full_every" {
  description = "A full backup every K runs."
  type        = number
  default     = 24
}

variable "backup_keep" {
  description = "Complete backups kept."
  type        = number
  default     = 48
}

variable "backup_volume_size_gb" {
  description = "Encrypted EBS volume of the backups."
  type        = number
  default     = 500
}

variable "nodes_per_az" {
  description = "Cell nodes per AZ."
  type        = number
  default     = 1
}

variable "data_volume_size_gb" {
  description = "EBS data volume per cell node."
  type        = number
  default     = 200
}

variable "gateway_count" {
  description = "Gateways behind the load balancer."
  type        = number
  default     = 3
}

variable "allow_bootstrap" {
  description = "true for the first apply; false afterwards (see modules/cell-nodes)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
