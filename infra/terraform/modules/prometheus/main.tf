# One Prometheus that scrapes every cell node's /metrics (fixed instances: static targets with
# node and AZ labels) and every gateway's /metrics (an auto scaling group: EC2 discovery by the
# role and cluster tags the gateways carry), and the canary each gateway host runs (same
# discovery, the canary's port).

data "aws_region" "current" {}

locals {
  config_file = "/etc/prometheus/prometheus.yml"
}

module "boot" {
  source = "../host-boot"

  name         = "${var.name}-prometheus"
  region       = data.aws_region.current.name
  service_user = "prometheus"
  units        = ["prometheus.service"]
  tags         = var.tags

  env_secret_arns  = {}
  file_secret_arns = {}

  extra_policy_statements = [{ actions = ["ec2:DescribeInstances"], resources = ["*"] }]

  files = [
    {
      path        = local.config_file
      permissions = "0644"
      content = templatefile("${path.module}/templates/prometheus.yml.tftpl", {
        cluster         = var.name
        region          = data.aws_region.current.name
        scrape_interval = var.scrape_interval
        cell_targets    = var.cell_targets
        gateway_port    = var.gateway_port
        canary_port     = var.canary_port
        port            = var.port
      })
    },
    {
      path        = "/etc/systemd/system/prometheus.service"
      permissions = "0644"
      content = templatefile("${path.module}/templates/prometheus.service.tftpl", {
        config_file = local.config_file
        port        = var.port
        retention   = var.retention
      })
    },
  ]
}

resource "aws_instance" "prometheus" {
  ami                    = var.ami_id
  instance_type          = var.instance_type
  subnet_id              = var.subnet_id
  vpc_security_group_ids = [var.security_group_id]
  iam_instance_profile   = module.boot.instance_profile_name
  user_data_base64       = base64gzip(module.boot.user_data)
  # cloud-init runs once per instance: a new config means a new instance.
  user_data_replace_on_change = true

  metadata_options {
    http_tokens = "required"
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = var.volume_size_gb
    encrypted   = true
  }

  tags = merge(var.tags, { Name = "${var.name}-prometheus", "cellkv:role" = "prometheus", "cellkv:az" = var.az })
}
