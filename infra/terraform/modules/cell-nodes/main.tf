# The storage tier: a node group per AZ. Every node is an instance plus its own encrypted EBS
# data volume in the same AZ, mounted at /var/lib/cellkv before the node starts; the volume
# outlives the instance (replacing an instance re-attaches the same data), and the node is
# started by systemd with cell/main.ts's flags.

data "aws_region" "current" {}

locals {
  mount_point = "/var/lib/cellkv"
  data_dir    = "${local.mount_point}/data"
  ca_file     = "/etc/cellkv/nats-ca.pem"
  node_config = "/etc/cellkv/node.json"

  # Node IDs depend only on the AZ's position and the index inside it, so they are stable.
  nodes = merge([
    for a, az in var.azs : {
      for i in range(var.nodes_per_az) : "n${a + 1}-${i + 1}" => {
        az    = az
        index = i
        # Own AZ's NATS server first, the others as fallbacks (cell/node/transport.ts: noRandomize).
        nats = join(",", concat([var.nats_urls_by_az[az]], [for other in var.azs : var.nats_urls_by_az[other] if other != az]))
      }
    }
  ]...)

  # The initial cluster: the first node of each AZ (only read by a node whose data dir is empty).
  bootstrap = join(",", [for id, n in local.nodes : "${id}:${n.az}" if n.index == 0])
}

resource "aws_ebs_volume" "data" {
  for_each = local.nodes

  availability_zone = each.value.az
  size              = var.data_volume_size_gb
  type              = var.data_volume_type
  iops              = var.data_volume_iops
  throughput        = var.data_volume_type == "gp3" ? var.data_volume_throughput : null
  encrypted         = true
  final_snapshot    = true

  tags = merge(var.tags, { Name = "${var.name}-${each.key}-data", "cellkv:node" = each.key, "cellkv:az" = each.value.az })

  lifecycle {
    # The node's replicas live here: losing it costs a full re-replication.
    prevent_destroy = true
  }
}

module "boot" {
  for_each = local.nodes
  source   = "../host-boot"

  name            = "${var.name}-cell-${each.key}"
  region          = data.aws_region.current.name
  service_user    = "cellkv"
  release_s3_uri  = var.release_s3_uri
  units           = ["cellkv-node.service"]
  tags            = var.tags
  env_secret_arns = { CELLKV_NATS_PASSWORD = var.cell_password_secret_arn }

  file_secret_arns = {}

  files = [
    { path = local.ca_file, permissions = "0644", content = var.nats_tls_ca_pem },
    # Settings without a flag (cell/node/config.ts): serve /metrics beyond loopback for Prometheus.
    { path = local.node_config, permissions = "0644", content = jsonencode({ metricsHost = "0.0.0.0" }) },
    {
      path        = "/usr/local/libexec/cellkv/mount-data-volume"
      permissions = "0700"
      content = templatefile("${path.module}/templates/mount-data-volume.sh.tftpl", {
        volume_id   = aws_ebs_volume.data[each.key].id
        mount_point = local.mount_point
        data_dir    = local.data_dir
        owner       = "cellkv"
      })
    },
    {
      path        = "/etc/systemd/system/cellkv-node.service"
      permissions = "0644"
      content = templatefile("${path.module}/templates/cellkv-node.service.tftpl", {
        node_id       = each.key
        az            = each.value.az
        data_dir      = local.data_dir
        mount_point   = local.mount_point
        nats_urls     = each.value.nats
        nats_user     = "cell"
        metrics_port  = var.metrics_port
        bootstrap     = var.allow_bootstrap ? local.bootstrap : null
        otlp_endpoint = var.otlp_endpoint
        node_config   = local.node_config
        ca_file       = local.ca_file
        fetch_secrets = "/usr/local/libexec/cellkv/fetch-secrets"
      })
    },
  ]

  boot_commands = [["/usr/local/libexec/cellkv/mount-data-volume"]]
}

resource "aws_instance" "node" {
  for_each = local.nodes

  ami                    = var.ami_id
  instance_type          = var.instance_type
  subnet_id              = var.subnet_ids[each.value.az]
  vpc_security_group_ids = [var.security_group_id]
  iam_instance_profile   = module.boot[each.key].instance_profile_name
  user_data_base64       = base64gzip(module.boot[each.key].user_data)
  # cloud-init runs once per instance: new user data (release, flags) means a new instance,
  # which gets the same data volume attached.
  user_data_replace_on_change = true

  metadata_options {
    http_tokens = "required"
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = 20
    encrypted   = true
  }

  tags = merge(var.tags, { Name = "${var.name}-${each.key}", "cellkv:role" = "cell", "cellkv:node" = each.key, "cellkv:az" = each.value.az })
}

resource "aws_volume_attachment" "data" {
  for_each = local.nodes

  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.data[each.key].id
  instance_id = aws_instance.node[each.key].id

  # A clean stop (SIGTERM: leadership transfer, LevelDB closed) before the volume goes away.
  stop_instance_before_detaching = true
}
