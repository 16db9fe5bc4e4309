# Scheduled backups: one small instance in the first AZ runs `npx cellkv backup --every` (the
# CLI's scheduler: timestamped directories, a full every K runs, incrementals between, the last
# N kept) onto its own encrypted EBS volume. It reaches the cells over NATS only, as user
# "cell" (the admin subjects), with the password from Secrets Manager like the nodes.

data "aws_region" "current" {}

locals {
  mount_point = "/var/lib/cellkv-backups"
  backup_root = "${local.mount_point}/backups"
  ca_file     = "/etc/cellkv/nats-ca.pem"
}

resource "aws_ebs_volume" "backups" {
  availability_zone = var.az
  size              = var.volume_size_gb
  type              = "gp3"
  encrypted         = true
  final_snapshot    = true

  tags = merge(var.tags, { Name = "${var.name}-backups", "cellkv:role" = "backup", "cellkv:az" = var.az })

  lifecycle {
    # The backups themselves: deleting them must be a deliberate edit.
    prevent_destroy = true
  }
}

module "boot" {
  source = "../host-boot"

  name            = "${var.name}-backup"
  region          = data.aws_region.current.name
  service_user    = "cellkv"
  release_s3_uri  = var.release_s3_uri
  units           = ["cellkv-backup.service"]
  tags            = var.tags
  env_secret_arns = { CELLKV_NATS_PASSWORD = var.cell_password_secret_arn }

  file_secret_arns = {}

  files = [
    { path = local.ca_file, permissions = "0644", content = var.nats_tls_ca_pem },
    {
      path        = "/usr/local/libexec/cellkv/mount-data-volume"
      permissions = "0700"
      # The cell nodes' script: wait for the attachment, mkfs only a blank volume, fstab by UUID.
      content = templatefile("${path.module}/../cell-nodes/templates/mount-data-volume.sh.tftpl", {
        volume_id   = aws_ebs_volume.backups.id
        mount_point = local.mount_point
        data_dir    = local.backup_root
        owner       = "cellkv"
      })
    },
    {
      path        = "/etc/systemd/system/cellkv-backup.service"
      permissions = "0644"
      content = templatefile("${path.module}/templates/cellkv-backup.service.tftpl", {
        backup_root   = local.backup_root
        mount_point   = local.mount_point
        every         = var.every
        full_every    = var.full_every
        keep          = var.keep
        cluster_id    = var.name
        nats_urls     = join(",", var.nats_urls)
        nats_user     = "cell"
        ca_file       = local.ca_file
        fetch_secrets = "/usr/local/libexec/cellkv/fetch-secrets"
      })
    },
  ]

  boot_commands = [["/usr/local/libexec/cellkv/mount-data-volume"]]
}

resource "aws_instance" "backup" {
  ami                    = var.ami_id
  instance_type          = var.instance_type
  subnet_id              = var.subnet_id
  vpc_security_group_ids = [var.security_group_id]
  iam_instance_profile   = module.boot.instance_profile_name
  user_data_base64       = base64gzip(module.boot.user_data)
  # cloud-init runs once per instance: new user data means a new instance, same volume.
  user_data_replace_on_change = true

  metadata_options {
    http_tokens = "required"
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = 20
    encrypted   = true
  }

  tags = merge(var.tags, { Name = "${var.name}-backup", "cellkv:role" = "backup", "cellkv:az" = var.az })
}

resource "aws_volume_attachment" "backups" {
  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.backups.id
  instance_id = aws_instance.backup.id

  # SIGTERM first: the current run stops; a run cut short has no manifest, so it is no backup.
  stop_instance_before_detaching = true
}
