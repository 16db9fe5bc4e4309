output "api_lb_dns_name" {
  description = "DNS name of the gateways' load balancer (HTTPS)."
  value       = module.gateways.lb_dns_name
}

output "api_lb_zone_id" {
  description = "Zone ID of the load balancer for a Route 53 alias."
  value       = module.gateways.lb_zone_id
}

output "nats_urls" {
  description = "NATS client URLs, one per AZ."
  value       = module.nats.client_urls
}

output "nats_private_ips" {
  description = "NATS server IP per AZ."
  value       = module.nats.private_ips
}

output "cell_nodes" {
  description = "Cell nodes: AZ, private IP, data volume."
  value       = module.cells.nodes
}

output "cell_node_ips" {
  description = "Private IP per cell node."
  value       = module.cells.private_ips
}

output "bootstrap" {
  description = "The initial cluster the nodes were given."
  value       = module.cells.bootstrap
}

output "gateway_asg" {
  description = "Auto scaling group of the gateways."
  value       = module.gateways.autoscaling_group_name
}

output "gateway_quota_share" {
  description = "Share of each tenant's opsPerSec one gateway admits."
  value       = module.gateways.quota_share
}

output "prometheus_url" {
  description = "Prometheus inside the VPC."
  value       = module.prometheus.url
}

output "prometheus_ip" {
  description = "Private IP of Prometheus."
  value       = module.prometheus.private_ip
}

output "vpc_id" {
  description = "The VPC."
  value       = module.network.vpc_id
}

output "public_subnet_ids" {
  description = "Public subnets (for an internet-facing load balancer: set lb_subnet_ids to these and internal = false)."
  value       = module.network.public_subnet_ids
}

output "backup_root" {
  description = "Where the scheduled backups land on the backup host."
  value       = module.backup.backup_root
}

output "backup_volume_id" {
  description = "EBS volume of the backups."
  value       = module.backup.volume_id
}

output "backup_host_ip" {
  description = "Private IP of the backup host."
  value       = module.backup.private_ip
}
