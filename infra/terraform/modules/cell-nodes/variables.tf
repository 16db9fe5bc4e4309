variable "name" {
  description = "Prefix of resource names, e.g. \"cellkv-prod\"."
  type        = string
}

variable "azs" {
  description = "The three availability zones; each cell has one replica per AZ."
  type        = list(string)

  validation {
    condition     = length(var.azs) == 3 && length(distinct(var.azs)) == 3
    error_message = "azs must list exactly three distinct availability zones."
  }
}

variable "subnet_ids" {
  description = "Private subnet ID per AZ (map keyed by AZ name)."
  type        = map(string)
}

variable "security_group_id" {
  description = "Security group of the cell nodes (network module, role \"cell\")."
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
  description = "EC2 instance type of the cell nodes (LevelDB, fsync-bound: memory and EBS bandwidth matter most)."
  type        = string
  default     = "m7g.xlarge"

  validation {
    condition     = can(regex("^(c|m|r|i)[4-8][a-z]*\\.(large|xlarge|2xlarge|4xlarge|8xlarge)$", var.instance_type))
    error_message = "instance_type must be a c, m, r or i family type (generation 4-8) from large to 8xlarge."
  }
}

variable "nodes_per_az" {
  description = "Cell nodes per AZ. Node IDs are n<az number>-<index> and never change when this grows."
  type        = number
  default     = 1

  validation {
    condition     = var.nodes_per_az >= 1 && var.nodes_per_az <= 16 && floor(var.nodes_per_az) == var.nodes_per_az
    error_message = "nodes_per_az must be a whole number from 1 to 16."
  }
}

variable "data_volume_size_gb" {
  description = "Size of each node's EBS data volume (LevelDB: Raft log and state machine)."
  type        = number
  default     = 200

  validation {
    condition     = var.data_volume_size_gb >= 20 && var.data_volume_size_gb <= 16384
    error_message = "data_volume_size_gb must be between 20 and 16384."
  }
}

variable "data_volume_type" {
  description = "EBS volume type of the data volumes."
  type        = string
  default     = "gp3"

  validation {
    condition     = contains(["gp3", "io2"], var.data_volume_type)
    error_message = "data_volume_type must be gp3 or io2 (provisioned IOPS; the log is fsynced per batch)."
  }
}

variable "data_volume_iops" {
  description = "Provisioned IOPS of each data volume."
  type        = number
  default     = 6000

  validation {
    condition     = var.data_volume_iops >= 3000 && var.data_volume_iops <= 64000
    error_message = "data_volume_iops must be between 3000 and 64000."
  }
}

variable "data_volume_throughput" {
  description = "Throughput in MiB/s of each gp3 data volume (ignored for io2)."
  type        = number
  default     = 250

  validation {
    condition     = var.data_volume_throughput >= 125 && var.data_volume_throughput <= 1000
    error_message = "data_volume_throughput must be between 125 and 1000 MiB/s."
  }
}

variable "nats_urls_by_az" {
  description = "NATS client URL per AZ (nats-cluster output client_urls_by_az); each node lists its own AZ's first."
  type        = map(string)
}

variable "nats_tls_ca_pem" {
  description = "CA of the NATS servers' certificate (NODE_EXTRA_CA_CERTS)."
  type        = string
}

variable "cell_password_secret_arn" {
  description = "Secrets Manager ARN of the NATS password of user \"cell\"."
  type        = string
  sensitive   = true
}

variable "metrics_port" {
  description = "--metrics-port: /metrics and /healthz of every node (the code's default 0 picks a free port, which nothing could scrape)."
  type        = number
  default     = 9101

  validation {
    condition     = var.metrics_port >= 1 && var.metrics_port <= 65535
    error_message = "metrics_port must be a fixed port 1-65535."
  }
}

variable "release_s3_uri" {
  description = "s3://bucket/key.tgz of the cellkv release."
  type        = string
}

variable "allow_bootstrap" {
  description = "Pass --bootstrap (the first node of each AZ) so empty data volumes form a new cluster. Set false once the cluster exists: a node given a blank volume must then rejoin by a membership change, never bootstrap a second cluster."
  type        = bool
  default     = true
}

variable "otlp_endpoint" {
  description = "OTLP/HTTP base URL for traces (--otlp-endpoint); null = tracing off."
  type        = string
  default     = null

  validation {
    condition     = var.otlp_endpoint == null || can(regex("^https?://", var.otlp_endpoint))
    error_message = "otlp_endpoint must be an http(s) URL."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
