output "nodes" {
  description = "Per node ID: AZ, private IP and data volume ID."
  value = {
    for id, n in local.nodes : id => {
      az         = n.az
      private_ip = aws_instance.node[id].private_ip
      volume_id  = aws_volume_attachment.data[id].volume_id
    }
  }
}

output "private_ips" {
  description = "Private IP per node ID."
  value       = { for id, i in aws_instance.node : id => i.private_ip }
}

output "scrape_targets" {
  description = "Prometheus targets: host:port of every node's /metrics, with its node ID and AZ."
  value       = [for id, n in local.nodes : { target = "${aws_instance.node[id].private_ip}:${var.metrics_port}", node = id, az = n.az }]
}

output "bootstrap" {
  description = "The --bootstrap spec of the initial cluster (empty once allow_bootstrap is false)."
  value       = var.allow_bootstrap ? local.bootstrap : ""
}
