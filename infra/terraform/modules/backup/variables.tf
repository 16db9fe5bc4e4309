variable "name" {
  description = "Prefix of resource names; also the backups' --cluster-id."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 characters of [a-z0-9-], starting with a letter."
  }
}

variable "az" {
  description = "AZ of the backup host and its volume (one of the three)."
  type        = string
}

variable "subnet_id" {
  description = "Private subnet of that AZ."
  type        = string
}

variable "security_group_id" {
  description = "Security group of the backup host (network module, role \"backup\")."
  type        = string
}

variable "ami_id" {
  description = "Image with Node.js 20 at /usr/bin/node, the AWS CLI v2 and xfsprogs."
  type        = string

  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be an AMI ID such as ami-0123456789abcdef0."
  }
}

variable "instance_type" {
  description = "EC2 instance type of the backup host (network and EBS bandwidth bound)."
  type        = string
  default     = "m7g.large"

  validation {
    condition     = can(regex("^(c|m|r)[5-8][a-z]*\\.(large|xlarge|2xlarge)$", var.instance_type))
    error_message = "instance_type must be a c, m or r family type (generation 5-8) from large to 2xlarge."
  }
}

variable "volume_size_gb" {
  description = "Encrypted gp3 volume for the backups: room for `keep` backups plus the fulls they build on."
  type        = number
  default     = 500

  validation {
    condition     = var.volume_size_gb >= 20 && var.volume_size_gb <= 16384 && floor(var.volume_size_gb) == var.volume_size_gb
    error_message = "volume_size_gb must be a whole number from 20 to 16384."
  }
}

variable "every" {
  description = "Interval between backups (--every), e.g. \"1h\"; from 1m to 7d. Size the nodes' --log-retain for it (docs/runbook.md)."
  type        = string
  default     = "1h"

  validation {
    # The CLI's own format (cell/backup/schedule.ts parseInterval), bounded to what makes sense.
    condition = can(regex("^[1-9][0-9]{0,5}(s|m|h|d)$", var.every)) && try(
      tonumber(regex("^[0-9]+", var.every)) * lookup({ s = 1, m = 60, h = 3600, d = 86400 }, regex("[smhd]$", var.every)) >= 60 &&
      tonumber(regex("^[0-9]+", var.every)) * lookup({ s = 1, m = 60, h = 3600, d = 86400 }, regex("[smhd]$", var.every)) <= 604800,
      false,
    )
    error_message = "every must be a whole number with s, m, h or d, from 1m to 7d, e.g. \"1h\"."
  }
}

variable "full_every" {
  description = "A full backup every K runs, incrementals between (--full-every)."
  type        = number
  default     = 24

  validation {
    condition     = var.full_every >= 1 && var.full_every <= 1000 && floor(var.full_every) == var.full_every
    error_message = "full_every must be a whole number from 1 to 1000."
  }
}

variable "keep" {
  description = "Complete backups kept (--keep; the fulls they build on are kept too)."
  type        = number
  default     = 48

  validation {
    condition     = var.keep >= 1 && var.keep <= 1000 && floor(var.keep) == var.keep
    error_message = "keep must be a whole number from 1 to 1000."
  }
}

variable "nats_urls" {
  description = "NATS client URLs (nats-cluster output client_urls)."
  type        = list(string)

  validation {
    condition     = length(var.nats_urls) == 3 && alltrue([for u in var.nats_urls : can(regex("^nats://[a-z0-9.-]+:[0-9]+$", u))])
    error_message = "nats_urls must be the three nats://host:port URLs of the NATS cluster."
  }
}

variable "nats_tls_ca_pem" {
  description = "CA of the NATS servers' certificate (NODE_EXTRA_CA_CERTS)."
  type        = string
}

variable "cell_password_secret_arn" {
  description = "Secrets Manager ARN of the NATS password of user \"cell\" (the admin subjects the backup uses)."
  type        = string
  sensitive   = true
}

variable "release_s3_uri" {
  description = "s3://bucket/key.tgz of the cellkv release."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
