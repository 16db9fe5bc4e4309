# One security group per role. Every rule names the port of the process it is for; nothing
# else is open (no SSH: operators use SSM Session Manager, which needs only outbound HTTPS).

locals {
  roles = toset(["lb", "gateway", "nats", "cell", "prometheus", "backup"])
}

resource "aws_security_group" "role" {
  for_each = local.roles

  name        = "${var.name}-${each.key}"
  description = "cellkv ${var.name}: ${each.key}"
  vpc_id      = aws_vpc.this.id

  tags = merge(local.tags, { Name = "${var.name}-${each.key}", "cellkv:role" = each.key })
}

# --- load balancer: HTTPS in from clients, HTTP out to the gateways

resource "aws_vpc_security_group_ingress_rule" "lb_https" {
  for_each = toset(var.lb_client_cidrs)

  security_group_id = aws_security_group.role["lb"].id
  description       = "HTTPS from tenant clients"
  ip_protocol       = "tcp"
  from_port         = var.lb_listener_port
  to_port           = var.lb_listener_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "lb_to_gateway" {
  security_group_id            = aws_security_group.role["lb"].id
  description                  = "gateway HTTP (API and /readyz health checks)"
  ip_protocol                  = "tcp"
  from_port                    = var.gateway_http_port
  to_port                      = var.gateway_http_port
  referenced_security_group_id = aws_security_group.role["gateway"].id
}

# --- gateways: HTTP from the load balancer and Prometheus; NATS out

resource "aws_vpc_security_group_ingress_rule" "gateway_http" {
  for_each = toset(["lb", "prometheus"])

  security_group_id            = aws_security_group.role["gateway"].id
  description                  = "gateway HTTP from ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = var.gateway_http_port
  to_port                      = var.gateway_http_port
  referenced_security_group_id = aws_security_group.role[each.key].id
}

# --- canary (on every gateway host, talking to its local gateway): /metrics from Prometheus

resource "aws_vpc_security_group_ingress_rule" "canary_metrics" {
  security_group_id            = aws_security_group.role["gateway"].id
  description                  = "canary /metrics from Prometheus"
  ip_protocol                  = "tcp"
  from_port                    = var.canary_metrics_port
  to_port                      = var.canary_metrics_port
  referenced_security_group_id = aws_security_group.role["prometheus"].id
}

# --- NATS: clients from gateways, cells, the backup host and platform CIDRs; routes between the servers

resource "aws_vpc_security_group_ingress_rule" "nats_client" {
  for_each = toset(["gateway", "cell", "backup"])

  security_group_id            = aws_security_group.role["nats"].id
  description                  = "NATS clients: ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = var.nats_client_port
  to_port                      = var.nats_client_port
  referenced_security_group_id = aws_security_group.role[each.key].id
}

resource "aws_vpc_security_group_ingress_rule" "nats_platform" {
  for_each = toset(var.nats_client_cidrs)

  security_group_id = aws_security_group.role["nats"].id
  description       = "NATS front door for platform services"
  ip_protocol       = "tcp"
  from_port         = var.nats_client_port
  to_port           = var.nats_client_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "nats_routes" {
  security_group_id            = aws_security_group.role["nats"].id
  description                  = "NATS cluster routes between the servers"
  ip_protocol                  = "tcp"
  from_port                    = var.nats_cluster_port
  to_port                      = var.nats_cluster_port
  referenced_security_group_id = aws_security_group.role["nats"].id
}

resource "aws_vpc_security_group_egress_rule" "nats_routes" {
  security_group_id            = aws_security_group.role["nats"].id
  description                  = "NATS cluster routes between the servers"
  ip_protocol                  = "tcp"
  from_port                    = var.nats_cluster_port
  to_port                      = var.nats_cluster_port
  referenced_security_group_id = aws_security_group.role["nats"].id
}

resource "aws_vpc_security_group_egress_rule" "to_nats" {
  for_each = toset(["gateway", "cell", "backup"])

  security_group_id            = aws_security_group.role[each.key].id
  description                  = "NATS client connections"
  ip_protocol                  = "tcp"
  from_port                    = var.nats_client_port
  to_port                      = var.nats_client_port
  referenced_security_group_id = aws_security_group.role["nats"].id
}

# --- cell nodes: /metrics from Prometheus (Raft and requests travel over NATS)

resource "aws_vpc_security_group_ingress_rule" "cell_metrics" {
  security_group_id            = aws_security_group.role["cell"].id
  description                  = "cell node /metrics from Prometheus"
  ip_protocol                  = "tcp"
  from_port                    = var.node_metrics_port
  to_port                      = var.node_metrics_port
  referenced_security_group_id = aws_security_group.role["prometheus"].id
}

# --- Prometheus: UI/API from operators; scrapes out

resource "aws_vpc_security_group_ingress_rule" "prometheus_http" {
  for_each = toset(var.prometheus_client_cidrs)

  security_group_id = aws_security_group.role["prometheus"].id
  description       = "Prometheus UI and API"
  ip_protocol       = "tcp"
  from_port         = var.prometheus_port
  to_port           = var.prometheus_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "scrape_cells" {
  security_group_id            = aws_security_group.role["prometheus"].id
  description                  = "scrape cell node /metrics"
  ip_protocol                  = "tcp"
  from_port                    = var.node_metrics_port
  to_port                      = var.node_metrics_port
  referenced_security_group_id = aws_security_group.role["cell"].id
}

resource "aws_vpc_security_group_egress_rule" "scrape_gateways" {
  security_group_id            = aws_security_group.role["prometheus"].id
  description                  = "scrape gateway /metrics"
  ip_protocol                  = "tcp"
  from_port                    = var.gateway_http_port
  to_port                      = var.gateway_http_port
  referenced_security_group_id = aws_security_group.role["gateway"].id
}

resource "aws_vpc_security_group_egress_rule" "scrape_canaries" {
  security_group_id            = aws_security_group.role["prometheus"].id
  description                  = "scrape canary /metrics on the gateway hosts"
  ip_protocol                  = "tcp"
  from_port                    = var.canary_metrics_port
  to_port                      = var.canary_metrics_port
  referenced_security_group_id = aws_security_group.role["gateway"].id
}

# --- backup host: no inbound port at all (NATS out, above; HTTPS out, below)

# --- every instance: HTTPS out to AWS APIs (Secrets Manager, S3, EC2 discovery, SSM)

resource "aws_vpc_security_group_egress_rule" "aws_apis" {
  for_each = toset(["gateway", "nats", "cell", "prometheus", "backup"])

  security_group_id = aws_security_group.role[each.key].id
  description       = "HTTPS to AWS APIs"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}
