variable "name" {
  description = "Prefix of every resource name and Name tag, e.g. \"cellkv-prod\"."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 characters of [a-z0-9-], starting with a letter."
  }
}

variable "azs" {
  description = "The three availability zones, one Raft replica and one NATS server in each, e.g. [\"eu-west-1a\", \"eu-west-1b\", \"eu-west-1c\"]."
  type        = list(string)

  validation {
    condition     = length(var.azs) == 3 && length(distinct(var.azs)) == 3
    error_message = "azs must list exactly three distinct availability zones (a cell has one replica per AZ)."
  }
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC; the private and public subnets are carved out of it."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 20, false)
    error_message = "vpc_cidr must be a valid IPv4 CIDR block with a prefix length between /16 and /20."
  }
}

variable "lb_client_cidrs" {
  description = "CIDR blocks allowed to reach the gateways' load balancer (HTTPS)."
  type        = list(string)

  validation {
    condition     = length(var.lb_client_cidrs) > 0 && alltrue([for c in var.lb_client_cidrs : can(cidrhost(c, 0))])
    error_message = "lb_client_cidrs must be a non-empty list of valid CIDR blocks."
  }
}

variable "nats_client_cidrs" {
  description = "CIDR blocks of platform services allowed to use the NATS front door (user \"platform\"); empty = none."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.nats_client_cidrs : can(cidrhost(c, 0))])
    error_message = "nats_client_cidrs must contain valid CIDR blocks only."
  }
}

variable "prometheus_client_cidrs" {
  description = "CIDR blocks allowed to reach the Prometheus UI and API (operators, Grafana)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.prometheus_client_cidrs : can(cidrhost(c, 0))])
    error_message = "prometheus_client_cidrs must contain valid CIDR blocks only."
  }
}

variable "internal_zone_name" {
  description = "Private Route 53 zone for the instances' stable names (NATS servers: nats-<az>.<zone>)."
  type        = string
  default     = "cellkv.internal"

  validation {
    condition     = can(regex("^([a-z0-9-]+\\.)+[a-z]{2,}$", var.internal_zone_name))
    error_message = "internal_zone_name must be a DNS name such as \"cellkv.internal\"."
  }
}

variable "nats_client_port" {
  description = "nats-server client port (scripts/start.ts and nats-server default 4222)."
  type        = number
  default     = 4222

  validation {
    condition     = var.nats_client_port >= 1 && var.nats_client_port <= 65535 && floor(var.nats_client_port) == var.nats_client_port
    error_message = "nats_client_port must be a port number 1-65535."
  }
}

variable "nats_cluster_port" {
  description = "nats-server cluster route port (scripts/start.ts default 6222)."
  type        = number
  default     = 6222

  validation {
    condition     = var.nats_cluster_port >= 1 && var.nats_cluster_port <= 65535 && floor(var.nats_cluster_port) == var.nats_cluster_port
    error_message = "nats_cluster_port must be a port number 1-65535."
  }
}

variable "gateway_http_port" {
  description = "Gateway HTTP port (gateway/config.ts default 8080); serves the API, /readyz and /metrics."
  type        = number
  default     = 8080

  validation {
    condition     = var.gateway_http_port >= 1 && var.gateway_http_port <= 65535 && floor(var.gateway_http_port) == var.gateway_http_port
    error_message = "gateway_http_port must be a port number 1-65535."
  }
}

variable "node_metrics_port" {
  description = "Cell node /metrics and /healthz port (--metrics-port; 9101 as in the README)."
  type        = number
  default     = 9101

  validation {
    condition     = var.node_metrics_port >= 1 && var.node_metrics_port <= 65535 && floor(var.node_metrics_port) == var.node_metrics_port
    error_message = "node_metrics_port must be a port number 1-65535."
  }
}

variable "canary_metrics_port" {
  description = "Canary /metrics port on the gateway hosts (canary/options.ts --metrics-port default 9108); reachable from Prometheus only."
  type        = number
  default     = 9108

  validation {
    condition     = var.canary_metrics_port >= 1 && var.canary_metrics_port <= 65535 && floor(var.canary_metrics_port) == var.canary_metrics_port
    error_message = "canary_metrics_port must be a port number 1-65535."
  }
}

variable "prometheus_port" {
  description = "Prometheus HTTP port."
  type        = number
  default     = 9090

  validation {
    condition     = var.prometheus_port >= 1 && var.prometheus_port <= 65535 && floor(var.prometheus_port) == var.prometheus_port
    error_message = "prometheus_port must be a port number 1-65535."
  }
}

variable "lb_listener_port" {
  description = "HTTPS port of the load balancer."
  type        = number
  default     = 443

  validation {
    condition     = var.lb_listener_port >= 1 && var.lb_listener_port <= 65535 && floor(var.lb_listener_port) == var.lb_listener_port
    error_message = "lb_listener_port must be a port number 1-65535."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
