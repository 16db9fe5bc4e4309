output "backup_root" {
  description = "Directory on the backup host the timestamped backups land in (--to)."
  value       = local.backup_root
}

output "volume_id" {
  description = "EBS volume holding the backups."
  value       = aws_ebs_volume.backups.id
}

output "private_ip" {
  description = "Private IP of the backup host (shell access through SSM Session Manager)."
  value       = aws_instance.backup.private_ip
}
