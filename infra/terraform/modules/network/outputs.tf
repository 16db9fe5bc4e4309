output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "Private subnet ID per AZ (map keyed by AZ name)."
  value       = { for az, s in aws_subnet.private : az => s.id }
}

output "public_subnet_ids" {
  description = "Public subnet ID per AZ (map keyed by AZ name)."
  value       = { for az, s in aws_subnet.public : az => s.id }
}

output "security_group_ids" {
  description = "Security group ID per role: lb, gateway, nats, cell, prometheus, backup."
  value       = { for role, sg in aws_security_group.role : role => sg.id }
}

output "internal_zone_id" {
  description = "ID of the private Route 53 zone."
  value       = aws_route53_zone.internal.zone_id
}

output "internal_zone_name" {
  description = "Name of the private Route 53 zone."
  value       = aws_route53_zone.internal.name
}
