output "user_data" {
  description = "cloud-config user data (plain text; callers gzip and base64 it)."
  value = templatefile("${path.module}/templates/cloud-config.yaml.tftpl", {
    files    = local.boot_files
    commands = local.commands
  })
  sensitive = true
}

output "instance_profile_name" {
  description = "Instance profile to attach to the role's instances."
  value       = aws_iam_instance_profile.this.name
}
