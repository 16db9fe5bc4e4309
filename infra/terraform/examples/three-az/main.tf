# A complete three-AZ cellkv: network, NATS cluster, cell nodes, gateways behind a load
# balancer with a canary on every gateway host, Prometheus, scheduled backups. Secrets stay in Secrets Manager; only their ARNs pass through here.

locals {
  # The processes' ports (gateway/config.ts, scripts/start.ts, the README's --metrics-port),
  # passed to the security groups and to the processes from one place.
  ports = {
    nats_client    = 4222
    nats_cluster   = 6222
    gateway_http   = 8080
    node_metrics   = 9101
    canary_metrics = 9108
    prometheus     = 9090
    lb_listener    = 443
  }
}

module "network" {
  source = "../../modules/network"

  name                    = var.name
  azs                     = var.azs
  vpc_cidr                = var.vpc_cidr
  lb_client_cidrs         = var.lb_client_cidrs
  nats_client_cidrs       = var.nats_client_cidrs
  prometheus_client_cidrs = var.prometheus_client_cidrs
  nats_client_port        = local.ports.nats_client
  nats_cluster_port       = local.ports.nats_cluster
  gateway_http_port       = local.ports.gateway_http
  node_metrics_port       = local.ports.node_metrics
  canary_metrics_port     = local.ports.canary_metrics
  prometheus_port         = local.ports.prometheus
  lb_listener_port        = local.ports.lb_listener
}

module "nats" {
  source = "../../modules/nats-cluster"

  name              = var.name
  azs               = var.azs
  subnet_ids        = module.network.private_subnet_ids
  security_group_id = module.network.security_group_ids["nats"]
  zone_id           = module.network.internal_zone_id
  zone_name         = module.network.internal_zone_name
  ami_id            = var.ami_id
  client_port       = local.ports.nats_client
  cluster_port      = local.ports.nats_cluster

  # Rendered from gateway/nats-permissions.ts by scripts/render-nats-authorization.ts.
  authorization_conf = file("${path.module}/nats-authorization.conf")

  tls_ca_pem                   = file(var.nats_tls_ca_file)
  tls_cert_pem                 = file(var.nats_tls_cert_file)
  tls_key_secret_arn           = var.nats_tls_key_secret_arn
  gateway_password_secret_arn  = var.nats_gateway_password_secret_arn
  cell_password_secret_arn     = var.nats_cell_password_secret_arn
  platform_password_secret_arn = var.nats_platform_password_secret_arn
}

module "cells" {
  source = "../../modules/cell-nodes"

  name                     = var.name
  azs                      = var.azs
  subnet_ids               = module.network.private_subnet_ids
  security_group_id        = module.network.security_group_ids["cell"]
  ami_id                   = var.ami_id
  nodes_per_az             = var.nodes_per_az
  data_volume_size_gb      = var.data_volume_size_gb
  nats_urls_by_az          = module.nats.client_urls_by_az
  nats_tls_ca_pem          = module.nats.tls_ca_pem
  cell_password_secret_arn = var.nats_cell_password_secret_arn
  metrics_port             = local.ports.node_metrics
  release_s3_uri           = var.release_s3_uri
  allow_bootstrap          = var.allow_bootstrap
}

module "gateways" {
  source = "../../modules/gateways"

  name                        = var.name
  azs                         = var.azs
  vpc_id                      = module.network.vpc_id
  subnet_ids                  = module.network.private_subnet_ids
  lb_subnet_ids               = module.network.private_subnet_ids
  internal                    = true
  security_group_id           = module.network.security_group_ids["gateway"]
  lb_security_group_id        = module.network.security_group_ids["lb"]
  certificate_arn             = var.certificate_arn
  ami_id                      = var.ami_id
  instance_count              = var.gateway_count
  http_port                   = local.ports.gateway_http
  lb_listener_port            = local.ports.lb_listener
  nats_urls                   = module.nats.client_urls
  nats_tls_ca_pem             = module.nats.tls_ca_pem
  gateway_password_secret_arn = var.nats_gateway_password_secret_arn
  session_secret_arn          = var.gateway_session_secret_arn
  canary_token_secret_arn     = var.canary_token_secret_arn
  canary_metrics_port         = local.ports.canary_metrics
  canary_rate                 = var.canary_rate
  jwks_url                    = var.jwks_url
  issuer                      = var.issuer
  audience                    = var.audience
  release_s3_uri              = var.release_s3_uri
}

module "prometheus" {
  source = "../../modules/prometheus"

  name              = var.name
  az                = var.azs[0]
  subnet_id         = module.network.private_subnet_ids[var.azs[0]]
  security_group_id = module.network.security_group_ids["prometheus"]
  ami_id            = var.ami_id
  port              = local.ports.prometheus
  cell_targets      = module.cells.scrape_targets
  gateway_port      = local.ports.gateway_http
  canary_port       = local.ports.canary_metrics
}

module "backup" {
  source = "../../modules/backup"

  name                     = var.name
  az                       = var.azs[0]
  subnet_id                = module.network.private_subnet_ids[var.azs[0]]
  security_group_id        = module.network.security_group_ids["backup"]
  ami_id                   = var.ami_id
  volume_size_gb           = var.backup_volume_size_gb
  every                    = var.backup_every
  full_every               = var.backup_full_every
  keep                     = var.backup_keep
  nats_urls                = module.nats.client_urls
  nats_tls_ca_pem          = module.nats.tls_ca_pem
  cell_password_secret_arn = var.nats_cell_password_secret_arn
  release_s3_uri           = var.release_s3_uri
}
