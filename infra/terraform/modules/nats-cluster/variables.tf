variable "name" {
  description = "Prefix of resource names, e.g. \"cellkv-prod\"."
  type        = string
}

variable "azs" {
  description = "The three availability zones; one nats-server runs in each."
  type        = list(string)

  validation {
    condition     = length(var.azs) == 3 && length(distinct(var.azs)) == 3
    error_message = "azs must list exactly three distinct availability zones."
  }
}

variable "subnet_ids" {
  description = "Private subnet ID per AZ (map keyed by AZ name, as the network module outputs it)."
  type        = map(string)
}

variable "security_group_id" {
  description = "Security group of the NATS servers (network module, role \"nats\")."
  type        = string
}

variable "zone_id" {
  description = "Private Route 53 zone for the servers' names."
  type        = string
}

variable "zone_name" {
  description = "Name of that zone; servers are nats-<az>.<zone_name>, which the TLS certificate must cover."
  type        = string
}

variable "ami_id" {
  description = "Image with nats-server (>= 2.9) at /usr/local/bin/nats-server, the AWS CLI v2 and python3."
  type        = string

  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be an AMI ID such as ami-0123456789abcdef0."
  }
}

variable "instance_type" {
  description = "EC2 instance type of the NATS servers."
  type        = string
  default     = "c7g.large"

  validation {
    condition     = can(regex("^(c|m|r)[5-8][a-z]*\\.(large|xlarge|2xlarge|4xlarge)$", var.instance_type))
    error_message = "instance_type must be a c, m or r family type (generation 5-8) from large to 4xlarge."
  }
}

variable "client_port" {
  description = "Client port (nats-server default 4222)."
  type        = number
  default     = 4222
}

variable "cluster_port" {
  description = "Cluster route port (default 6222)."
  type        = number
  default     = 6222
}

variable "max_payload" {
  description = "nats-server max_payload: a 1 MiB value plus a coalesced batch (scripts/nats-cluster.ts uses 8MB; gateways read it from INFO)."
  type        = string
  default     = "8MB"

  validation {
    condition     = can(regex("^[1-9][0-9]?MB$", var.max_payload))
    error_message = "max_payload must be 1MB..64MB, written like \"8MB\"."
  }
}

variable "max_connections" {
  description = "Bound on client connections per server."
  type        = number
  default     = 16384

  validation {
    condition     = var.max_connections >= 64 && var.max_connections <= 1000000
    error_message = "max_connections must be between 64 and 1000000."
  }
}

variable "authorization_conf" {
  description = "The authorization block rendered by infra/terraform/scripts/render-nats-authorization.ts (gateway/nats-permissions.ts) with password placeholders; read it with file()."
  type        = string

  validation {
    condition = (
      can(regex("(?m)^authorization \\{$", var.authorization_conf)) &&
      alltrue([for u in ["GATEWAY", "CELL", "PLATFORM"] : strcontains(var.authorization_conf, "@@CELLKV_NATS_PASSWORD_${u}@@")])
    )
    error_message = "authorization_conf must be the output of render-nats-authorization.ts: an authorization block with the @@CELLKV_NATS_PASSWORD_<USER>@@ placeholders (never real passwords)."
  }
}

variable "tls_ca_pem" {
  description = "PEM of the CA that signed the servers' certificate; clients and routes verify against it."
  type        = string

  validation {
    condition     = startswith(trimspace(var.tls_ca_pem), "-----BEGIN CERTIFICATE-----")
    error_message = "tls_ca_pem must be a PEM certificate."
  }
}

variable "tls_cert_pem" {
  description = "PEM of the servers' certificate (serverAuth and clientAuth, SANs nats-<az>.<zone_name> for every AZ)."
  type        = string

  validation {
    condition     = startswith(trimspace(var.tls_cert_pem), "-----BEGIN CERTIFICATE-----")
    error_message = "tls_cert_pem must be a PEM certificate."
  }
}

variable "tls_key_secret_arn" {
  description = "Secrets Manager ARN of the certificate's private key (PEM); fetched at each start, never in Terraform state."
  type        = string
  sensitive   = true
}

variable "gateway_password_secret_arn" {
  description = "Secrets Manager ARN of the NATS password of user \"gateway\"."
  type        = string
  sensitive   = true
}

variable "cell_password_secret_arn" {
  description = "Secrets Manager ARN of the NATS password of user \"cell\"."
  type        = string
  sensitive   = true
}

variable "platform_password_secret_arn" {
  description = "Secrets Manager ARN of the NATS password of user \"platform\" (the NATS front door)."
  type        = string
  sensitive   = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
