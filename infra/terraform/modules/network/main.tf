# One VPC over three AZs: a private subnet per AZ for every cellkv instance, a small public
# subnet per AZ for its NAT gateway (and an internet-facing load balancer, if chosen), and one
# security group per role whose rules open exactly the ports the processes listen on.

locals {
  tags = merge(var.tags, { "cellkv:cluster" = var.name })

  # A /20 per private subnet and a /24 per public one in a /16 (sizes scale with vpc_cidr).
  private_cidrs = [for i, _ in var.azs : cidrsubnet(var.vpc_cidr, 4, i)]
  public_cidrs  = [for i, _ in var.azs : cidrsubnet(var.vpc_cidr, 8, 240 + i)]
}

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = merge(local.tags, { Name = var.name })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(local.tags, { Name = var.name })
}

resource "aws_subnet" "public" {
  for_each = { for i, az in var.azs : az => i }

  vpc_id            = aws_vpc.this.id
  availability_zone = each.key
  cidr_block        = local.public_cidrs[each.value]

  tags = merge(local.tags, { Name = "${var.name}-public-${each.key}", "cellkv:tier" = "public" })
}

resource "aws_subnet" "private" {
  for_each = { for i, az in var.azs : az => i }

  vpc_id            = aws_vpc.this.id
  availability_zone = each.key
  cidr_block        = local.private_cidrs[each.value]

  tags = merge(local.tags, { Name = "${var.name}-private-${each.key}", "cellkv:tier" = "private" })
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this.id
  }

  tags = merge(local.tags, { Name = "${var.name}-public" })
}

resource "aws_route_table_association" "public" {
  for_each = aws_subnet.public

  subnet_id      = each.value.id
  route_table_id = aws_route_table.public.id
}

# A NAT gateway per AZ: losing one AZ must not cut the other two off AWS APIs
# (Secrets Manager, S3) that instances need when they (re)start.
resource "aws_eip" "nat" {
  for_each = aws_subnet.public

  domain = "vpc"

  tags = merge(local.tags, { Name = "${var.name}-nat-${each.key}" })
}

resource "aws_nat_gateway" "this" {
  for_each = aws_subnet.public

  allocation_id = aws_eip.nat[each.key].id
  subnet_id     = each.value.id

  tags = merge(local.tags, { Name = "${var.name}-${each.key}" })

  depends_on = [aws_internet_gateway.this]
}

resource "aws_route_table" "private" {
  for_each = aws_subnet.private

  vpc_id = aws_vpc.this.id

  route {
    cidr_block     = "0.0.0.0/0"
    nat_gateway_id = aws_nat_gateway.this[each.key].id
  }

  tags = merge(local.tags, { Name = "${var.name}-private-${each.key}" })
}

resource "aws_route_table_association" "private" {
  for_each = aws_subnet.private

  subnet_id      = each.value.id
  route_table_id = aws_route_table.private[each.key].id
}

data "aws_region" "current" {}

# Release artifacts come from S3 without crossing the NAT gateways.
resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [for rt in aws_route_table.private : rt.id]

  tags = merge(local.tags, { Name = "${var.name}-s3" })
}

resource "aws_route53_zone" "internal" {
  name    = var.internal_zone_name
  comment = "cellkv ${var.name}: stable names of NATS servers"

  vpc {
    vpc_id = aws_vpc.this.id
  }

  tags = local.tags
}
