# Three nats-servers, one per AZ, in one cluster: full mesh of TLS routes (mutual TLS), TLS for
# clients, and the authorization block of gateway/nats-permissions.ts. Passwords and the TLS key
# stay in Secrets Manager: the instance fetches them before each start and fills them into the
# config on tmpfs, so neither Terraform state nor user data holds them.

data "aws_region" "current" {}

locals {
  tls_dir     = "/etc/nats/tls"
  conf_in     = "/etc/nats/nats-server.conf.in"
  runtime_dir = "nats-server"

  servers = {
    for az in var.azs : az => {
      name = "${var.name}-nats-${az}"
      fqdn = "nats-${az}.${var.zone_name}"
    }
  }
}

module "boot" {
  for_each = local.servers
  source   = "../host-boot"

  name         = "${var.name}-nats-${each.key}"
  region       = data.aws_region.current.name
  service_user = "nats"
  units        = ["nats-server.service"]
  tags         = var.tags

  env_secret_arns = {
    CELLKV_NATS_PASSWORD_GATEWAY  = var.gateway_password_secret_arn
    CELLKV_NATS_PASSWORD_CELL     = var.cell_password_secret_arn
    CELLKV_NATS_PASSWORD_PLATFORM = var.platform_password_secret_arn
  }
  file_secret_arns = { "${local.tls_dir}/server-key.pem" = var.tls_key_secret_arn }

  files = [
    { path = "${local.tls_dir}/ca.pem", permissions = "0644", content = var.tls_ca_pem },
    { path = "${local.tls_dir}/server.pem", permissions = "0644", content = var.tls_cert_pem },
    {
      path        = local.conf_in
      permissions = "0600"
      content = templatefile("${path.module}/templates/nats-server.conf.tftpl", {
        server_name     = each.value.name
        client_port     = var.client_port
        cluster_port    = var.cluster_port
        cluster_name    = var.name
        max_payload     = var.max_payload
        max_connections = var.max_connections
        tls_dir         = local.tls_dir
        routes          = [for az, s in local.servers : s.fqdn if az != each.key]
        authorization   = var.authorization_conf
      })
    },
    {
      path        = "/usr/local/libexec/cellkv/render-nats-conf"
      permissions = "0700"
      content = templatefile("${path.module}/templates/render-nats-conf.sh.tftpl", {
        conf_in  = local.conf_in
        conf_out = "/run/${local.runtime_dir}/nats-server.conf"
        env_file = "/run/cellkv/secrets.env"
        owner    = "nats"
      })
    },
    {
      path        = "/etc/systemd/system/nats-server.service"
      permissions = "0644"
      content = templatefile("${path.module}/templates/nats-server.service.tftpl", {
        fetch_secrets = "/usr/local/libexec/cellkv/fetch-secrets"
        render_conf   = "/usr/local/libexec/cellkv/render-nats-conf"
        runtime_dir   = local.runtime_dir
        conf          = "/run/${local.runtime_dir}/nats-server.conf"
      })
    },
  ]
}

resource "aws_instance" "server" {
  for_each = local.servers

  ami                    = var.ami_id
  instance_type          = var.instance_type
  subnet_id              = var.subnet_ids[each.key]
  vpc_security_group_ids = [var.security_group_id]
  iam_instance_profile   = module.boot[each.key].instance_profile_name
  user_data_base64       = base64gzip(module.boot[each.key].user_data)
  # cloud-init runs once per instance: new user data (config, certificate) means a new instance.
  user_data_replace_on_change = true

  metadata_options {
    http_tokens = "required"
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = 16
    encrypted   = true
  }

  tags = merge(var.tags, { Name = each.value.name, "cellkv:role" = "nats", "cellkv:az" = each.key })

  lifecycle {
    precondition {
      condition     = contains(keys(var.subnet_ids), each.key)
      error_message = "subnet_ids has no subnet for AZ ${each.key}."
    }
  }
}

resource "aws_route53_record" "server" {
  for_each = local.servers

  zone_id = var.zone_id
  name    = each.value.fqdn
  type    = "A"
  ttl     = 30
  records = [aws_instance.server[each.key].private_ip]
}
