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

output "fetch_secrets_command" {
  description = "Command that refreshes the secrets; run it as root (ExecStartPre=+...) before each start."
  value       = "${local.libexec}/fetch-secrets"
}

output "secrets_env_file" {
  description = "Root-only EnvironmentFile that fetch_secrets_command writes."
  value       = local.secrets_env_file
}
