# What every cellkv instance role shares: an IAM role that may read exactly the secrets and the
# release object this role's user data names (derived from the same inputs, so they cannot
# drift apart), and the cloud-init user data that writes files, fetches secrets at each service
# start, installs the release and starts the units.
#
# Paths the role modules' systemd units rely on: /usr/local/libexec/cellkv/fetch-secrets (run it
# as root before each start: ExecStartPre=+...) writes /run/cellkv/secrets.env (root only).

locals {
  libexec          = "/usr/local/libexec/cellkv"
  secrets_env_file = "/run/cellkv/secrets.env" # tmpfs: secrets never reach a disk

  release_bucket = var.release_s3_uri == null ? null : split("/", trimprefix(var.release_s3_uri, "s3://"))[0]
  release_key    = var.release_s3_uri == null ? null : join("/", slice(split("/", trimprefix(var.release_s3_uri, "s3://")), 1, length(split("/", trimprefix(var.release_s3_uri, "s3://")))))

  boot_files = concat(var.files, [
    {
      path        = "${local.libexec}/fetch-secrets"
      permissions = "0700"
      content = templatefile("${path.module}/templates/fetch-secrets.sh.tftpl", {
        region       = var.region
        env_file     = local.secrets_env_file
        env_secrets  = var.env_secret_arns
        file_secrets = var.file_secret_arns
        service_user = var.service_user
      })
    }
    ], var.release_s3_uri == null ? [] : [
    {
      path        = "${local.libexec}/install-release"
      permissions = "0700"
      content = templatefile("${path.module}/templates/install-release.sh.tftpl", {
        region         = var.region
        release_s3_uri = var.release_s3_uri
      })
    }
  ])

  commands = concat(
    [["sh", "-c", "id -u ${var.service_user} >/dev/null 2>&1 || useradd --system --no-create-home --shell /sbin/nologin ${var.service_user}"]],
    var.release_s3_uri == null ? [] : [["${local.libexec}/install-release"]],
    var.boot_commands,
    [["systemctl", "daemon-reload"]],
    [for u in var.units : ["systemctl", "enable", "--now", u]],
  )

  secret_arns = distinct(concat(values(var.env_secret_arns), values(var.file_secret_arns)))
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.name
  assume_role_policy = data.aws_iam_policy_document.assume.json

  tags = var.tags
}

data "aws_iam_policy_document" "this" {
  dynamic "statement" {
    # The ARNs are marked sensitive; whether there are any is not.
    for_each = nonsensitive(length(local.secret_arns) > 0) ? [1] : []

    content {
      sid       = "ReadOwnSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = local.secret_arns
    }
  }

  dynamic "statement" {
    for_each = var.release_s3_uri == null ? [] : [1]

    content {
      sid       = "ReadRelease"
      actions   = ["s3:GetObject"]
      resources = ["arn:aws:s3:::${local.release_bucket}/${local.release_key}"]
    }
  }

  dynamic "statement" {
    for_each = var.extra_policy_statements

    content {
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "${var.name}-boot"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

# Shell access through SSM Session Manager instead of SSH: no inbound port is opened for it.
resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.this.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "this" {
  name = var.name
  role = aws_iam_role.this.name

  tags = var.tags
}
