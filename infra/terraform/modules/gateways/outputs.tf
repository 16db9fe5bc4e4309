output "lb_dns_name" {
  description = "DNS name of the load balancer (point the API's DNS name at it)."
  value       = aws_lb.gateway.dns_name
}

output "lb_zone_id" {
  description = "Route 53 zone ID of the load balancer, for alias records."
  value       = aws_lb.gateway.zone_id
}

output "autoscaling_group_name" {
  description = "Name of the gateways' auto scaling group."
  value       = aws_autoscaling_group.gateway.name
}

output "quota_share" {
  description = "--quota-share each gateway runs with."
  value       = local.quota_share
}
