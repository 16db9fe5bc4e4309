variable "name" {
  description = "Prefix of resource names; also the cluster label and the tag gateways are discovered by."
  type        = string
}

variable "az" {
  description = "AZ of the Prometheus instance (one of the three)."
  type        = string
}

variable "subnet_id" {
  description = "Private subnet of that AZ."
  type        = string
}

variable "security_group_id" {
  description = "Security group of Prometheus (network module, role \"prometheus\")."
  type        = string
}

variable "ami_id" {
  description = "Image with Prometheus (>= 2.40) at /usr/local/bin/prometheus."
  type        = string

  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be an AMI ID such as ami-0123456789abcdef0."
  }
}

variable "instance_type" {
  description = "EC2 instance type of Prometheus."
  type        = string
  default     = "m7g.large"

  validation {
    condition     = can(regex("^(m|r)[5-8][a-z]*\\.(large|xlarge|2xlarge)$", var.instance_type))
    error_message = "instance_type must be an m or r family type (generation 5-8) from large to 2xlarge."
  }
}

variable "volume_size_gb" {
  description = "Root volume size; the TSDB lives on it."
  type        = number
  default     = 100

  validation {
    condition     = var.volume_size_gb >= 20 && var.volume_size_gb <= 4096
    error_message = "volume_size_gb must be between 20 and 4096."
  }
}

variable "port" {
  description = "Prometheus HTTP port."
  type        = number
  default     = 9090
}

variable "retention" {
  description = "--storage.tsdb.retention.time, e.g. \"15d\"."
  type        = string
  default     = "15d"

  validation {
    condition     = can(regex("^[1-9][0-9]*(h|d|w|y)$", var.retention))
    error_message = "retention must be a duration such as 36h, 15d or 8w."
  }
}

variable "scrape_interval" {
  description = "How often every target is scraped."
  type        = string
  default     = "15s"

  validation {
    condition     = can(regex("^[1-9][0-9]*s$", var.scrape_interval))
    error_message = "scrape_interval must be whole seconds such as \"15s\"."
  }
}

variable "cell_targets" {
  description = "Cell node /metrics targets (cell-nodes output scrape_targets)."
  type = list(object({
    target = string
    node   = string
    az     = string
  }))

  validation {
    condition     = length(var.cell_targets) >= 3
    error_message = "cell_targets must name at least the three nodes of the first cell (one per AZ)."
  }
}

variable "gateway_port" {
  description = "Port of the gateways' /metrics (their HTTP port); gateways are found by EC2 tags."
  type        = number
  default     = 8080
}

variable "canary_port" {
  description = "Port of the canary's /metrics on every gateway host (found by the same EC2 tags)."
  type        = number
  default     = 9108
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
