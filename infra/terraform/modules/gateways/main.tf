# Stateless gateways in an auto scaling group over the three AZs behind an application load
# balancer: HTTPS at the balancer, HTTP to the gateways, health checked on /readyz (503 until
# NATS and the directory are reachable, so a gateway cut off from NATS leaves the rotation).
# Every gateway host also runs the linearizability canary against its own gateway
# (127.0.0.1), so each gateway's path to the cells is checked; Prometheus scrapes it.

data "aws_region" "current" {}

locals {
  ca_file = "/etc/cellkv/nats-ca.pem"
  # Rate limits are enforced per gateway: each admits its share of a tenant's opsPerSec.
  quota_share = format("%.4f", 1 / var.instance_count)
}

module "boot" {
  source = "../host-boot"

  name           = "${var.name}-gateway"
  region         = data.aws_region.current.name
  service_user   = "cellkv"
  release_s3_uri = var.release_s3_uri
  units          = ["cellkv-gateway.service", "cellkv-canary.service"]
  tags           = var.tags

  # One EnvironmentFile for the host; each unit drops the variables that are not its own
  # (UnsetEnvironment=), so the canary never sees the gateway's secrets nor the gateway its token.
  env_secret_arns = {
    CELLKV_NATS_PASSWORD          = var.gateway_password_secret_arn
    CELLKV_GATEWAY_SESSION_SECRET = var.session_secret_arn
    CELLKV_CANARY_TOKEN           = var.canary_token_secret_arn
  }
  file_secret_arns = {}

  files = [
    { path = local.ca_file, permissions = "0644", content = var.nats_tls_ca_pem },
    {
      path        = "/etc/systemd/system/cellkv-gateway.service"
      permissions = "0644"
      content = templatefile("${path.module}/templates/cellkv-gateway.service.tftpl", {
        http_port     = var.http_port
        nats_urls     = join(",", var.nats_urls)
        nats_user     = "gateway"
        jwks_url      = var.jwks_url
        issuer        = var.issuer
        audience      = var.audience
        tenant_claim  = var.tenant_claim
        quota_share   = local.quota_share
        otlp_endpoint = var.otlp_endpoint
        ca_file       = local.ca_file
        fetch_secrets = "/usr/local/libexec/cellkv/fetch-secrets"
      })
    },
    {
      path        = "/etc/systemd/system/cellkv-canary.service"
      permissions = "0644"
      content = templatefile("${path.module}/templates/cellkv-canary.service.tftpl", {
        gateway_url   = "http://127.0.0.1:${var.http_port}"
        metrics_port  = var.canary_metrics_port
        rate          = var.canary_rate
        fetch_secrets = "/usr/local/libexec/cellkv/fetch-secrets"
      })
    },
  ]
}

resource "aws_launch_template" "gateway" {
  name_prefix            = "${var.name}-gateway-"
  image_id               = var.ami_id
  instance_type          = var.instance_type
  vpc_security_group_ids = [var.security_group_id]
  user_data              = base64gzip(module.boot.user_data)

  iam_instance_profile {
    name = module.boot.instance_profile_name
  }

  metadata_options {
    http_tokens = "required"
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.name}-gateway", "cellkv:role" = "gateway" })
  }

  tags = var.tags
}

resource "aws_lb" "gateway" {
  name                       = "${var.name}-gw"
  load_balancer_type         = "application"
  internal                   = var.internal
  subnets                    = [for az in var.azs : var.lb_subnet_ids[az]]
  security_groups            = [var.lb_security_group_id]
  drop_invalid_header_fields = true
  # Above the gateway's default request timeout (10 s) so the gateway, not the balancer, answers.
  idle_timeout = 30

  tags = var.tags
}

resource "aws_lb_target_group" "gateway" {
  name                 = "${var.name}-gw"
  vpc_id               = var.vpc_id
  port                 = var.http_port
  protocol             = "HTTP"
  target_type          = "instance"
  deregistration_delay = 30

  health_check {
    path                = "/readyz"
    port                = "traffic-port"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  tags = var.tags
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.gateway.arn
  port              = var.lb_listener_port
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.gateway.arn
  }

  tags = var.tags
}

resource "aws_autoscaling_group" "gateway" {
  name_prefix               = "${var.name}-gateway-"
  vpc_zone_identifier       = [for az in var.azs : var.subnet_ids[az]]
  min_size                  = var.instance_count
  max_size                  = var.instance_count
  desired_capacity          = var.instance_count
  target_group_arns         = [aws_lb_target_group.gateway.arn]
  health_check_type         = "ELB"
  health_check_grace_period = 120

  launch_template {
    id      = aws_launch_template.gateway.id
    version = aws_launch_template.gateway.latest_version
  }

  # A new launch template version (release, flags) replaces gateways a third at a time.
  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage = 66
    }
  }

  tag {
    key                 = "cellkv:cluster"
    value               = var.name
    propagate_at_launch = true
  }
}
