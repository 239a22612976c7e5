module dimtensor.local/cluster/pause

go 1.24
