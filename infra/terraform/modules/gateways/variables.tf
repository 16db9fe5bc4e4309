variable "name" {
  description = "Prefix of resource names, e.g. \"cellkv-prod\"."
  type        = string

  validation {
    # The load balancer and target group are "<name>-gw", and AWS allows 32 characters.
    condition     = can(regex("^[a-z][a-z0-9-]{1,28}$", var.name))
    error_message = "name must be 2-29 characters of [a-z0-9-], starting with a letter (load balancer names are limited to 32)."
  }
}

variable "azs" {
  description = "The three availability zones the gateways are spread over."
  type        = list(string)

  validation {
    condition     = length(var.azs) == 3 && length(distinct(var.azs)) == 3
    error_message = "azs must list exactly three distinct availability zones."
  }
}

variable "vpc_id" {
  description = "VPC of the target group."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnet ID per AZ for the gateway instances (map keyed by AZ name)."
  type        = map(string)
}

variable "lb_subnet_ids" {
  description = "Subnet ID per AZ for the load balancer: private for an internal one, public for an internet-facing one."
  type        = map(string)
}

variable "security_group_id" {
  description = "Security group of the gateways (network module, role \"gateway\")."
  type        = string
}

variable "lb_security_group_id" {
  description = "Security group of the load balancer (network module, role \"lb\")."
  type        = string
}

variable "internal" {
  description = "Whether the load balancer is internal (platforms inside the network) or internet-facing."
  type        = bool
  default     = true
}

variable "certificate_arn" {
  description = "ACM certificate of the HTTPS listener."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}

variable "ami_id" {
  description = "Image with Node.js 20 at /usr/bin/node and the AWS CLI v2."
  type        = string

  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be an AMI ID such as ami-0123456789abcdef0."
  }
}

variable "instance_type" {
  description = "EC2 instance type of the gateways (stateless, CPU-bound)."
  type        = string
  default     = "c7g.large"

  validation {
    condition     = can(regex("^(c|m)[5-8][a-z]*\\.(large|xlarge|2xlarge|4xlarge)$", var.instance_type))
    error_message = "instance_type must be a c or m family type (generation 5-8) from large to 4xlarge."
  }
}

variable "instance_count" {
  description = "Gateways (desired capacity); each admits 1/instance_count of a tenant's opsPerSec (--quota-share)."
  type        = number
  default     = 3

  validation {
    condition     = var.instance_count >= 3 && var.instance_count <= 60 && floor(var.instance_count) == var.instance_count
    error_message = "instance_count must be a whole number from 3 (one per AZ) to 60."
  }
}

variable "http_port" {
  description = "Gateway HTTP port (--port; gateway/config.ts default 8080)."
  type        = number
  default     = 8080
}

variable "lb_listener_port" {
  description = "HTTPS port of the load balancer."
  type        = number
  default     = 443
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

variable "gateway_password_secret_arn" {
  description = "Secrets Manager ARN of the NATS password of user \"gateway\"."
  type        = string
  sensitive   = true
}

variable "session_secret_arn" {
  description = "Secrets Manager ARN of the HMAC secret for session tokens, shared by all gateways (CELLKV_GATEWAY_SESSION_SECRET)."
  type        = string
  sensitive   = true
}

variable "canary_token_secret_arn" {
  description = "Secrets Manager ARN of the canary's JWT (tenant \"cellkv-canary\", scopes kv:read kv:write); the canary reads it from CELLKV_CANARY_TOKEN."
  type        = string
  sensitive   = true
}

variable "canary_metrics_port" {
  description = "Port of the canary's /metrics on each gateway host (--metrics-port; canary/options.ts default 9108)."
  type        = number
  default     = 9108

  validation {
    condition     = var.canary_metrics_port >= 1 && var.canary_metrics_port <= 65535 && floor(var.canary_metrics_port) == var.canary_metrics_port
    error_message = "canary_metrics_port must be a port number 1-65535."
  }
}

variable "canary_rate" {
  description = "Ops/s of the canary on each gateway host (--rate); the tenant cellkv-canary needs opsPerSec of at least instance_count times this."
  type        = number
  default     = 10

  validation {
    condition     = var.canary_rate >= 1 && var.canary_rate <= 500 && floor(var.canary_rate) == var.canary_rate
    error_message = "canary_rate must be a whole number of ops/s from 1 to 500."
  }
}

variable "jwks_url" {
  description = "JWKS URL with the public keys of tenant tokens (--jwks-url)."
  type        = string

  validation {
    condition     = can(regex("^https://", var.jwks_url))
    error_message = "jwks_url must be an https:// URL."
  }
}

variable "issuer" {
  description = "Expected token issuer (--issuer)."
  type        = string

  validation {
    # It becomes one argument of the unit's ExecStart line.
    condition     = can(regex("^[!-~]{1,256}$", var.issuer)) && !can(regex("[\"'\\\\%$;]", var.issuer))
    error_message = "issuer must be 1-256 printable characters without spaces, quotes, backslash, %, $ or ;."
  }
}

variable "audience" {
  description = "Expected token audience (--audience)."
  type        = string

  validation {
    # It becomes one argument of the unit's ExecStart line.
    condition     = can(regex("^[!-~]{1,256}$", var.audience)) && !can(regex("[\"'\\\\%$;]", var.audience))
    error_message = "audience must be 1-256 printable characters without spaces, quotes, backslash, %, $ or ;."
  }
}

variable "tenant_claim" {
  description = "Token claim naming the tenant (--tenant-claim)."
  type        = string
  default     = "tenant"

  validation {
    # It becomes one argument of the unit's ExecStart line.
    condition     = can(regex("^[!-~]{1,256}$", var.tenant_claim)) && !can(regex("[\"'\\\\%$;]", var.tenant_claim))
    error_message = "tenant_claim must be 1-256 printable characters without spaces, quotes, backslash, %, $ or ;."
  }
}

variable "release_s3_uri" {
  description = "s3://bucket/key.tgz of the cellkv release."
  type        = string
}

variable "otlp_endpoint" {
  description = "OTLP/HTTP base URL for traces (--otlp-endpoint); null = tracing off."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
