output "url" {
  description = "Prometheus UI and API inside the VPC."
  value       = "http://${aws_instance.prometheus.private_ip}:${var.port}"
}

output "private_ip" {
  description = "Private IP of the Prometheus instance."
  value       = aws_instance.prometheus.private_ip
}
