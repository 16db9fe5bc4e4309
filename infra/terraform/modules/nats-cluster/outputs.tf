output "client_urls" {
  description = "Client URLs of the three servers, in the order of var.azs."
  value       = [for az in var.azs : "nats://${local.servers[az].fqdn}:${var.client_port}"]
}

output "client_urls_by_az" {
  description = "Client URL per AZ: a client lists its own AZ's server first."
  value       = { for az, s in local.servers : az => "nats://${s.fqdn}:${var.client_port}" }
}

output "private_ips" {
  description = "Private IP per AZ."
  value       = { for az, i in aws_instance.server : az => i.private_ip }
}

output "tls_ca_pem" {
  description = "The CA clients trust for the servers' certificate (NODE_EXTRA_CA_CERTS on cells and gateways)."
  value       = var.tls_ca_pem
}
