#!/usr/bin/env bash
# A one-node Kubernetes cluster on this machine, built from upstream parts with no registry
# (docs/cluster.md): the server binaries from the Go module proxy, containerd, etcd and the CNI
# plugins from Debian, a pause image of the project's own, CoreDNS and metrics-server as host
# processes, the project's images imported. The tests of `make test-cluster` run on it.
#
#   scripts/cluster.sh up              preflight, build what the cache lacks, start every part,
#                                      import the project's image, wait until the node is Ready,
#                                      DNS answers and `kubectl top` has metrics
#   scripts/cluster.sh down            stop every process `up` started (by recorded PID), remove
#                                      the pods, mounts, interface and iptables rules it made
#   scripts/cluster.sh status          each part's PID and health, then the node
#   scripts/cluster.sh logs [PART]     the last lines of each part's log (or one part's, whole)
#   scripts/cluster.sh kubeconfig      the path of the admin kubeconfig
#   scripts/cluster.sh image NAME...   import local images (podman's) into the node's runtime
#   scripts/cluster.sh build           build (or find cached) the binaries and the pause image
#   scripts/cluster.sh preflight       check the kernel features the cluster needs
#
# Settings (environment):
#   CLUSTER_STATE   where the running cluster keeps its PKI, configs, data and logs
#                   (default <repo>/.cluster; `down` removes it but for logs/)
#   CLUSTER_CACHE   the binaries, cached by version (default ${XDG_CACHE_HOME:-~/.cache}/dimtensor-cluster)
#   CLUSTER_IMAGES  images `up` imports (default: the project's CPU image and, when built, its
#                   Locust variant: scripts/image.sh tag cpu|load)
#   CLUSTER_MIN_FREE_GB  the free disk preflight asks for where the node keeps images and volumes
#                   (CLUSTER_STATE, /tmp/hostpath_pv), in GiB (default 5: two images imported
#                   and unpacked take 4, docs/cluster.md)
#   CLUSTER_HPA_SYNC, CLUSTER_HPA_DOWNSCALE, CLUSTER_HPA_CPU_INIT, CLUSTER_HPA_READINESS
#                   the controller-manager's HPA timings (test settings: 5s, 30s, 30s, 10s;
#                   upstream's defaults are 15s, 5m, 5m, 30s)
# Needs root (kubelet, containerd, iptables). Debian packages come from scripts/install-tools.sh
# (`cluster` group); the Go toolchain from the machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HERE="${ROOT}/scripts/cluster"

K8S_VERSION="v1.35.4"        # inside the chart's kubeVersion; kubelet runs on cgroup v1 with failCgroupV1: false
METRICS_SERVER_VERSION="v0.8.0"
COREDNS_VERSION="v1.14.7"
CRICTL_VERSION="v1.34.0"     # the newest cri-tools the proxy serves below v1.37
ETCD_DEB="etcd-server/sid"   # 3.5.x (bookworm's 3.4.23 is too old); unpacked, not installed:
                             # its postinst needs a newer systemd-sysusers than bookworm's

STATE="${CLUSTER_STATE:-${ROOT}/.cluster}"
CACHE="${CLUSTER_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/dimtensor-cluster}"
BIN="${CACHE}/k8s-${K8S_VERSION}/bin"
PAUSE_IMAGE="localhost/dimtensor-cluster/pause:1"
NODE_NAME="dimtensor-node"
POD_CIDR="10.244.0.0/24"
SERVICE_CIDR="10.96.0.0/16"
API_SERVICE_IP="10.96.0.1"
BRIDGE="dimtensor0"
KUBECTL="${ROOT}/.tools/bin/kubectl"   # scripts/install-tools.sh, within one minor of the server
VOLUME_UID=10001   # the chart's runAsUser: the host-path provisioner makes volumes this UID owns
HOSTPATH_PV=/tmp/hostpath_pv   # where that provisioner makes them (fixed upstream)
KCM_DIR=/run/dimtensor-cluster/controller-manager   # what that UID reads (controller_manager_files)
PARTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy coredns metrics-server)

log() { printf 'cluster: %s\n' "$*" >&2; }
die() {
  printf 'cluster: %s\n' "$*" >&2
  exit 1
}

# --- preflight --------------------------------------------------------------------------------

node_ip() {
  ip -4 -o addr show scope global | awk '{split($4, a, "/"); print a[1]; exit}'
}

# The free KiB of the filesystem that holds PATH, or would once it is made.
free_kib() {
  local path="$1"
  until [[ -e "${path}" ]]; do path="$(dirname "${path}")"; done
  df --output=avail -k "${path}" | tail -n 1 | tr -d ' '
}

# Every kernel feature, command and free disk the cluster cannot do without, checked and
# printed; what is missing is named, all of it at once, and fails the script.
preflight() {
  local missing=() controller
  [[ "$(id -u)" -eq 0 ]] || die "preflight: needs root (kubelet, containerd, iptables)"
  if [[ -d /sys/fs/cgroup/cpu || -d /sys/fs/cgroup/memory ]]; then
    log "preflight: cgroups v1 (hybrid): kubelet runs with failCgroupV1: false"
  elif [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    log "preflight: cgroups v2"
  else
    missing+=("a cgroup filesystem under /sys/fs/cgroup")
  fi
  for controller in cpu cpuacct cpuset memory pids; do
    awk -v c="${controller}" '$1 == c && $4 == 1 { found = 1 } END { exit !found }' /proc/cgroups ||
      missing+=("cgroup controller ${controller} (/proc/cgroups)")
  done
  grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
    missing+=("the overlay filesystem (containerd's snapshotter)")
  if ip link add dimtensor-pf0 type bridge 2>/dev/null; then
    ip link del dimtensor-pf0
  else
    missing+=("bridge interfaces (ip link add type bridge)")
  fi
  if ip link add dimtensor-pf1 type veth peer name dimtensor-pf2 2>/dev/null; then
    ip link del dimtensor-pf1
  else
    missing+=("veth pairs (ip link add type veth)")
  fi
  command -v iptables >/dev/null && iptables -t nat -S >/dev/null 2>&1 ||
    missing+=("iptables with a nat table (kube-proxy)")
  [[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] || modprobe br_netfilter 2>/dev/null ||
    missing+=("br_netfilter (net.bridge.bridge-nf-call-iptables)")
  [[ -n "$(node_ip)" ]] || missing+=("a non-loopback IPv4 address for the node")
  local cmd
  for cmd in containerd ctr runc openssl conntrack podman go setpriv curl mountpoint; do
    command -v "${cmd}" >/dev/null || missing+=("command ${cmd} (bash scripts/install-tools.sh cluster)")
  done
  [[ -x /usr/lib/cni/bridge ]] || missing+=("CNI plugins in /usr/lib/cni (containernetworking-plugins)")
  local folder free need=$((${CLUSTER_MIN_FREE_GB:-5} * 1024 * 1024))
  for folder in "${STATE}" "${HOSTPATH_PV}"; do
    free="$(free_kib "${folder}")"
    ((free >= need)) || missing+=("$((need / 1024 / 1024)) GiB free for ${folder} ($((free / 1024)) MiB free; untagged images: podman image prune)")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    printf 'cluster: preflight: missing %s\n' "${missing[@]}" >&2
    exit 1
  fi
  local capeff
  capeff="$(awk '/^CapEff/ { print $2 }' /proc/self/status)"
  if (((16#${capeff} >> 24) & 1)); then
    log "preflight: CAP_SYS_RESOURCE held (CapEff ${capeff})"
  else
    log "preflight: no CAP_SYS_RESOURCE (CapEff ${capeff}): OOM scores are clamped to containerd's"
  fi
  log "preflight: node IP $(node_ip), overlay, bridge, veth, iptables nat, br_netfilter: ok"
}

# --- build ------------------------------------------------------------------------------------

# The five server binaries, built once per version through a wrapper module whose go.mod
# replaces each staging module by its published v0.Y.Z (`go install k8s.io/kubernetes/...`
# refuses the replace directives of k8s.io/kubernetes' own go.mod).
build_kubernetes() {
  local want=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy) name
  local built=1
  for name in "${want[@]}"; do [[ -x "${BIN}/${name}" ]] || built=0; done
  [[ "${built}" -eq 1 ]] && return 0
  local work="${CACHE}/k8s-${K8S_VERSION}/module" staging="v0.${K8S_VERSION#v1.}" started
  started="$(date +%s)"
  log "building Kubernetes ${K8S_VERSION} (cold: 4-8 minutes on two cores, module downloads included)"
  mkdir -p "${work}" "${BIN}"
  local modfile
  modfile="$(cd "${work}" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" |
    sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')"
  [[ -f "${modfile}" ]] || die "build: no go.mod for k8s.io/kubernetes@${K8S_VERSION} from the module proxy"
  {
    printf 'module dimtensor.local/cluster/kubernetes\n\ngo 1.25.0\n\n'
    printf 'require k8s.io/kubernetes %s\n\nreplace (\n' "${K8S_VERSION}"
    sed -n "s#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 ${staging}#p" "${modfile}"
    printf ')\n'
  } >"${work}/go.mod"
  local packages=()
  for name in "${want[@]}"; do packages+=("k8s.io/kubernetes/cmd/${name}"); done
  (cd "${work}" && go get "${packages[@]/%/@${K8S_VERSION}}")
  local ldflags="-s -w" pkg minor="${K8S_VERSION#v1.}"
  minor="${minor%%.*}"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X ${pkg}.gitVersion=${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
    ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
  done
  (cd "${work}" && CGO_ENABLED=0 go build -trimpath -ldflags "${ldflags}" -o "${BIN}/" "${packages[@]}")
  log "built Kubernetes ${K8S_VERSION} in $(($(date +%s) - started)) s"
}

# A program from a module without replace directives, at a pinned version, into BIN.
build_go_tool() {
  local name="$1" package="$2"
  [[ -x "${BIN}/${name}" ]] && return 0
  local started
  started="$(date +%s)"
  log "building ${package}"
  CGO_ENABLED=0 GOBIN="${BIN}" go install -trimpath -ldflags '-s -w' "${package}"
  log "built ${name} in $(($(date +%s) - started)) s"
}

build_pause() {
  if podman image exists "${PAUSE_IMAGE}"; then
    return 0
  fi
  local work
  work="$(mktemp -d)"
  cp "${HERE}/pause/Containerfile" "${work}/"
  (cd "${HERE}/pause" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "${work}/pause" .)
  podman build --quiet --format docker -t "${PAUSE_IMAGE}" "${work}" >/dev/null
  rm -rf "${work}"
  log "built ${PAUSE_IMAGE}"
}

# etcd from Debian's package, unpacked into the cache.
fetch_etcd() {
  [[ -x "${BIN}/etcd" ]] && return 0
  local work
  work="$(mktemp -d)"
  (cd "${work}" && apt-get download -q "${ETCD_DEB}" >/dev/null) ||
    die "build: apt-get download ${ETCD_DEB} failed (bash scripts/install-tools.sh cluster adds sid)"
  dpkg-deb -x "${work}"/etcd-server_*.deb "${work}/root"
  install -m 0755 "${work}/root/usr/bin/etcd" "${BIN}/etcd"
  rm -rf "${work}"
  log "unpacked $("${BIN}/etcd" --version | head -n 1)"
}

build() {
  command -v go >/dev/null || die "build: the Go toolchain is needed (go 1.25 or newer)"
  mkdir -p "${BIN}"
  build_kubernetes
  fetch_etcd
  build_go_tool crictl "sigs.k8s.io/cri-tools/cmd/crictl@${CRICTL_VERSION}"
  build_go_tool metrics-server "sigs.k8s.io/metrics-server/cmd/metrics-server@${METRICS_SERVER_VERSION}"
  build_go_tool coredns "github.com/coredns/coredns@${COREDNS_VERSION}"
  build_pause
}

# --- PKI and configuration --------------------------------------------------------------------

# A key and a certificate signed by CA (ca or front-proxy-ca): NAME CN [O] [SANS].
issue() {
  local name="$1" cn="$2" org="${3:-}" sans="${4:-}" ca="${5:-ca}" dir="${STATE}/pki"
  local subject="/CN=${cn}"
  [[ -n "${org}" ]] && subject="/O=${org}${subject}"
  openssl req -new -newkey rsa:2048 -nodes -keyout "${dir}/${name}.key" -subj "${subject}" \
    -out "${dir}/${name}.csr" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"
    [[ -n "${sans}" ]] && echo "subjectAltName=${sans}"
  } >"${dir}/${name}.ext"
  openssl x509 -req -in "${dir}/${name}.csr" -CA "${dir}/${ca}.crt" -CAkey "${dir}/${ca}.key" \
    -CAcreateserial -days 30 -sha256 -extfile "${dir}/${name}.ext" -out "${dir}/${name}.crt" 2>/dev/null
  rm -f "${dir}/${name}.csr" "${dir}/${name}.ext"
}

kubeconfig_for() {
  local name="$1" server="https://${NODE_IP}:6443" pki="${STATE}/pki"
  cat >"${STATE}/kubeconfig/${name}.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: dimtensor
  cluster: {server: "${server}", certificate-authority: "${pki}/ca.crt"}
users:
- name: ${name}
  user: {client-certificate: "${pki}/${name}.crt", client-key: "${pki}/${name}.key"}
contexts:
- name: dimtensor
  context: {cluster: dimtensor, user: ${name}}
current-context: dimtensor
EOF
}

make_pki() {
  local pki="${STATE}/pki"
  mkdir -p "${pki}" "${STATE}/kubeconfig"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=dimtensor-cluster-ca" \
    -keyout "${pki}/ca.key" -out "${pki}/ca.crt" 2>/dev/null
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=dimtensor-front-proxy-ca" \
    -keyout "${pki}/front-proxy-ca.key" -out "${pki}/front-proxy-ca.crt" 2>/dev/null
  openssl genrsa -out "${pki}/sa.key" 2048 2>/dev/null
  openssl rsa -in "${pki}/sa.key" -pubout -out "${pki}/sa.pub" 2>/dev/null
  issue apiserver kube-apiserver "" "IP:127.0.0.1,IP:${NODE_IP},IP:${API_SERVICE_IP},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  issue apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  issue front-proxy-client front-proxy-client "" "" front-proxy-ca
  issue kubelet-serving "${NODE_NAME}" "" "IP:${NODE_IP},IP:127.0.0.1,DNS:${NODE_NAME}"
  issue admin kubernetes-admin system:masters
  issue kube-controller-manager system:kube-controller-manager
  issue kube-scheduler system:kube-scheduler
  issue kubelet "system:node:${NODE_NAME}" system:nodes
  issue kube-proxy system:kube-proxy
  issue coredns system:coredns
  issue metrics-server system:metrics-server
  local name
  for name in admin kube-controller-manager kube-scheduler kubelet kube-proxy coredns metrics-server; do
    kubeconfig_for "${name}"
  done
  chmod 600 "${pki}"/*.key
}

write_configs() {
  local etc="${STATE}/etc"
  mkdir -p "${etc}" "${STATE}/cni/net.d" "${STATE}/cni/ipam"
  cat >"${etc}/containerd.toml" <<EOF
version = 3
root = "${STATE}/containerd/root"
state = "${STATE}/containerd/state"
[grpc]
  address = "${STATE}/containerd/containerd.sock"
[ttrpc]
  address = "${STATE}/containerd/containerd.sock.ttrpc"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "${PAUSE_IMAGE}"
[plugins.'io.containerd.cri.v1.runtime']
  # A sandbox's -998 and a Guaranteed pod's -997 need CAP_SYS_RESOURCE, which this kind of
  # machine withholds even from root (runc fails: "can't get final child's PID from pipe"):
  # clamp every container's OOM score to containerd's own instead.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "${STATE}/cni/net.d"
EOF
  # Pods route only to the pod, Service and node addresses: no default route, no masquerade,
  # so nothing a pod sends can leave the machine.
  cat >"${STATE}/cni/net.d/10-dimtensor.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "dimtensor",
  "plugins": [
    {"type": "bridge", "bridge": "${BRIDGE}", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "${STATE}/cni/ipam",
              "ranges": [[{"subnet": "${POD_CIDR}"}]],
              "routes": [{"dst": "${SERVICE_CIDR}"}, {"dst": "${NODE_IP}/32"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  cat >"${etc}/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: ${NODE_IP}
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ${STATE}/pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: ${STATE}/pki/kubelet-serving.crt
tlsPrivateKeyFile: ${STATE}/pki/kubelet-serving.key
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://${STATE}/containerd/containerd.sock
clusterDNS: [${NODE_IP}]
clusterDomain: cluster.local
resolvConf: ${STATE}/etc/resolv.conf
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: "0%", nodefs.available: "0%", nodefs.inodesFree: "0%", imagefs.available: "0%"}
staticPodPath: ""
EOF
  # Pods with dnsPolicy Default get no upstream resolver: names outside the cluster never resolve.
  : >"${etc}/resolv.conf"
  cat >"${etc}/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: ${STATE}/kubeconfig/kube-proxy.kubeconfig}
hostnameOverride: ${NODE_NAME}
mode: iptables
clusterCIDR: ${POD_CIDR}
nodePortAddresses: ["127.0.0.0/8"]
conntrack: {maxPerCore: 0}
oomScoreAdj: 0
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
EOF
  # Cluster names only: no forward plugin, so a pod's lookup of any other name is refused here.
  cat >"${etc}/Corefile" <<EOF
.:53 {
    bind ${NODE_IP}
    errors
    ready 127.0.0.1:8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig ${STATE}/kubeconfig/coredns.kubeconfig dimtensor
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    cache 5
}
EOF
}

# --- processes --------------------------------------------------------------------------------

start() {
  local name="$1"
  shift
  setsid "$@" >>"${STATE}/logs/${name}.log" 2>&1 </dev/null &
  echo $! >"${STATE}/pids/${name}.pid"
}

alive() {
  local pidfile="${STATE}/pids/$1.pid"
  [[ -f "${pidfile}" ]] && kill -0 "$(cat "${pidfile}")" 2>/dev/null
}

# Polls COMMAND until it succeeds, for at most SECONDS; fails naming WHAT and the part's log.
wait_for() {
  local what="$1" seconds="$2" part="$3"
  shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [[ -n "${part}" ]] && ! alive "${part}"; then
      tail -n 20 "${STATE}/logs/${part}.log" >&2 || true
      die "${part} exited while waiting for ${what} (log: ${STATE}/logs/${part}.log)"
    fi
    if ((SECONDS >= deadline)); then
      [[ -n "${part}" ]] && tail -n 20 "${STATE}/logs/${part}.log" >&2
      die "timed out after ${seconds} s waiting for ${what}"
    fi
    sleep 1
  done
}

kubectl_admin() {
  "${KUBECTL}" --kubeconfig "${STATE}/kubeconfig/admin.kubeconfig" "$@"
}

start_control_plane() {
  local pki="${STATE}/pki" kc="${STATE}/kubeconfig"
  start etcd "${BIN}/etcd" --name dimtensor --data-dir "${STATE}/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster dimtensor=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381
  wait_for "etcd" 60 etcd curl -fsS http://127.0.0.1:2381/health
  start kube-apiserver "${BIN}/kube-apiserver" --etcd-servers http://127.0.0.1:2379 \
    --bind-address "${NODE_IP}" --advertise-address "${NODE_IP}" --secure-port 6443 \
    --tls-cert-file "${pki}/apiserver.crt" --tls-private-key-file "${pki}/apiserver.key" \
    --client-ca-file "${pki}/ca.crt" --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction \
    --service-cluster-ip-range "${SERVICE_CIDR}" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "${pki}/sa.pub" --service-account-signing-key-file "${pki}/sa.key" \
    --kubelet-client-certificate "${pki}/apiserver-kubelet-client.crt" \
    --kubelet-client-key "${pki}/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "${pki}/ca.crt" \
    --kubelet-preferred-address-types InternalIP \
    --requestheader-client-ca-file "${pki}/front-proxy-ca.crt" \
    --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "${pki}/front-proxy-client.crt" \
    --proxy-client-key-file "${pki}/front-proxy-client.key" \
    --enable-aggregator-routing=true --profiling=false
  wait_for "the API server" 120 kube-apiserver kubectl_admin get --raw /readyz
  mkdir -p "${HOSTPATH_PV}"
  chown "${VOLUME_UID}:${VOLUME_UID}" "${HOSTPATH_PV}"
  controller_manager_files
  local own="${KCM_DIR}"
  start kube-controller-manager setpriv --reuid "${VOLUME_UID}" --regid "${VOLUME_UID}" --clear-groups \
    "${own}/kube-controller-manager" \
    --kubeconfig "${own}/kubeconfig" \
    --authentication-kubeconfig "${own}/kubeconfig" --authorization-kubeconfig "${own}/kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
    --root-ca-file "${own}/ca.crt" --service-account-private-key-file "${own}/sa.key" \
    --cluster-signing-cert-file "${own}/ca.crt" --cluster-signing-key-file "${own}/ca.key" \
    --service-cluster-ip-range "${SERVICE_CIDR}" --enable-hostpath-provisioner \
    --horizontal-pod-autoscaler-sync-period "${CLUSTER_HPA_SYNC:-5s}" \
    --horizontal-pod-autoscaler-downscale-stabilization "${CLUSTER_HPA_DOWNSCALE:-30s}" \
    --horizontal-pod-autoscaler-cpu-initialization-period "${CLUSTER_HPA_CPU_INIT:-30s}" \
    --horizontal-pod-autoscaler-initial-readiness-delay "${CLUSTER_HPA_READINESS:-10s}"
  start kube-scheduler "${BIN}/kube-scheduler" --kubeconfig "${kc}/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig "${kc}/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig "${kc}/kube-scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false
}

# The controller-manager runs as VOLUME_UID, which may not be able to reach the checkout or the
# cache (a clone under a 0700 folder, HOME=/root): its binary, kubeconfig and keys are copied
# to a folder of its own.
controller_manager_files() {
  local pki="${STATE}/pki" name
  rm -rf "${KCM_DIR}"
  install -d -m 0700 -o "${VOLUME_UID}" -g "${VOLUME_UID}" "${KCM_DIR}"
  install -m 0500 -o "${VOLUME_UID}" -g "${VOLUME_UID}" "${BIN}/kube-controller-manager" "${KCM_DIR}/"
  for name in ca.crt ca.key sa.key kube-controller-manager.crt kube-controller-manager.key; do
    install -m 0400 -o "${VOLUME_UID}" -g "${VOLUME_UID}" "${pki}/${name}" "${KCM_DIR}/${name}"
  done
  sed "s#${pki}/#${KCM_DIR}/#g" "${STATE}/kubeconfig/kube-controller-manager.kubeconfig" |
    install -m 0400 -o "${VOLUME_UID}" -g "${VOLUME_UID}" /dev/stdin "${KCM_DIR}/kubeconfig"
}

# /run/netns as a shared mount point of its own before any pod exists. podman (the image
# builds) makes it one the first time it needs a network namespace, binding the folder onto
# itself recursively: every pod namespace mounted before that is then mounted twice, and
# containerd's removal fails with EBUSY, leaving the pod Terminating for ever (seen here).
share_netns_dir() {
  local dir=/run/netns
  mkdir -p "${dir}"
  mountpoint -q "${dir}" && return 0
  mount --bind "${dir}" "${dir}"
  mount --make-rshared "${dir}"
  touch "${STATE}/netns.mounted"
}

start_node() {
  share_netns_dir
  sysctl_set net.ipv4.ip_forward 1
  sysctl_set net.bridge.bridge-nf-call-iptables 1
  mkdir -p "${STATE}/containerd"
  start containerd containerd --config "${STATE}/etc/containerd.toml"
  wait_for "containerd" 60 containerd ctr --address "${STATE}/containerd/containerd.sock" version
  import_images "${PAUSE_IMAGE}"
  start kubelet "${BIN}/kubelet" --config "${STATE}/etc/kubelet.yaml" \
    --kubeconfig "${STATE}/kubeconfig/kubelet.kubeconfig" --hostname-override "${NODE_NAME}" \
    --node-ip "${NODE_IP}" --root-dir "${STATE}/kubelet" --cert-dir "${STATE}/pki/kubelet"
  start kube-proxy "${BIN}/kube-proxy" --config "${STATE}/etc/kube-proxy.yaml"
}

# Records a sysctl's value before setting it, so `down` can put it back.
sysctl_set() {
  local key="$1" value="$2" path="/proc/sys/${1//.//}"
  [[ -f "${STATE}/sysctl.orig" ]] && grep -q "^${key}=" "${STATE}/sysctl.orig" ||
    echo "${key}=$(cat "${path}")" >>"${STATE}/sysctl.orig"
  echo "${value}" >"${path}"
}

start_addons() {
  local kc="${STATE}/kubeconfig"
  kubectl_admin apply -f "${HERE}/addons.yaml" >/dev/null
  sed "s/@NODE_IP@/${NODE_IP}/" "${HERE}/metrics-endpoints.yaml" | kubectl_admin apply -f - >/dev/null
  start coredns "${BIN}/coredns" -conf "${STATE}/etc/Corefile"
  start metrics-server "${BIN}/metrics-server" --bind-address "${NODE_IP}" --secure-port 4443 \
    --cert-dir "${STATE}/metrics-server" --kubeconfig "${kc}/metrics-server.kubeconfig" \
    --authentication-kubeconfig "${kc}/metrics-server.kubeconfig" \
    --authorization-kubeconfig "${kc}/metrics-server.kubeconfig" \
    --kubelet-certificate-authority "${STATE}/pki/ca.crt" \
    --kubelet-preferred-address-types InternalIP --kubelet-use-node-status-port \
    --metric-resolution 10s --kubelet-request-timeout 5s
}

# --- verbs ------------------------------------------------------------------------------------

up() {
  if status >/dev/null 2>&1; then
    log "already up: $(kubeconfig)"
    return 0
  fi
  local started
  started="$(date +%s)"
  preflight
  build
  down_quietly  # what a half-started or killed run left
  trap up_failed EXIT
  NODE_IP="$(node_ip)"
  mkdir -p "${STATE}/logs" "${STATE}/pids"
  make_pki
  write_configs
  start_control_plane
  start_node
  wait_for "node ${NODE_NAME} Ready" 180 kubelet \
    kubectl_admin wait --for=condition=Ready "node/${NODE_NAME}" --timeout=5s
  start_addons
  local images
  read -ra images <<<"$(default_images)"
  import_images "${images[@]}"
  wait_for "cluster DNS" 60 coredns curl -fsS http://127.0.0.1:8181/ready
  wait_for "node metrics (kubectl top node)" 120 metrics-server kubectl_admin top node
  wait_for "the default service account" 60 kube-controller-manager \
    kubectl_admin -n default get serviceaccount default
  trap - EXIT
  log "up in $(($(date +%s) - started)) s: KUBECONFIG=$(kubeconfig)"
}

# A failed `up` takes down what it started, keeping the logs that say why.
up_failed() {
  local rc=$?
  [[ "${rc}" -eq 0 ]] && return 0
  log "up failed (exit ${rc}): stopping what it started; logs in ${STATE}/logs"
  down >/dev/null 2>&1 || true
  exit "${rc}"
}

default_images() {
  if [[ -n "${CLUSTER_IMAGES:-}" ]]; then
    echo "${CLUSTER_IMAGES}"
    return 0
  fi
  local cpu load
  cpu="$(bash "${ROOT}/scripts/image.sh" tag cpu)"
  load="$(bash "${ROOT}/scripts/image.sh" tag load)"
  if podman image exists "${load}"; then
    echo "${cpu} ${load}"
  else
    log "${load} is not built (make image-load): deploy/examples/loadtest cannot run"
    echo "${cpu}"
  fi
}

import_images() {
  local name
  for name in "$@"; do
    podman image exists "${name}" || die "image: ${name} is not in podman's storage (make image builds the project's)"
    log "importing ${name}"
    podman save --format docker-archive "${name}" |
      ctr --address "${STATE}/containerd/containerd.sock" -n k8s.io images import \
        --no-unpack=false --label io.cri-containerd.pinned=pinned - >/dev/null
  done
}

image() {
  [[ $# -gt 0 ]] || die "usage: scripts/cluster.sh image NAME..."
  alive containerd || die "image: the cluster is not up (scripts/cluster.sh up)"
  import_images "$@"
}

kubeconfig() {
  echo "${STATE}/kubeconfig/admin.kubeconfig"
}

status() {
  local name state rc=0
  for name in "${PARTS[@]}"; do
    if alive "${name}"; then
      state="running (pid $(cat "${STATE}/pids/${name}.pid"))"
    else
      state="not running"
      rc=1
    fi
    printf '%-24s %s\n' "${name}" "${state}"
  done
  if alive kube-apiserver; then
    kubectl_admin get nodes -o wide || rc=1
  fi
  return "${rc}"
}

logs() {
  if [[ $# -gt 0 ]]; then
    cat "${STATE}/logs/$1.log"
    return 0
  fi
  local name
  for name in "${PARTS[@]}"; do
    [[ -f "${STATE}/logs/${name}.log" ]] || continue
    printf '==> %s <==\n' "${name}"
    tail -n 20 "${STATE}/logs/${name}.log"
  done
}

stop_part() {
  local name="$1" pidfile="${STATE}/pids/$1.pid" pid i
  [[ -f "${pidfile}" ]] || return 0
  pid="$(cat "${pidfile}")"
  if kill -0 "${pid}" 2>/dev/null; then
    kill -TERM "${pid}" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "${pid}" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "${pid}" 2>/dev/null || true
  fi
  rm -f "${pidfile}"
}

# The pods first (their sandboxes, through the CRI, tear down each pod's network and mounts),
# then every part in reverse order of start, then what the kernel still holds of them.
down() {
  if alive containerd; then
    stop_part kubelet
    "${BIN}/crictl" --runtime-endpoint "unix://${STATE}/containerd/containerd.sock" \
      --timeout 30s rmp --all --force >/dev/null 2>&1 || true
  fi
  local i
  for ((i = ${#PARTS[@]} - 1; i >= 0; i--)); do
    stop_part "${PARTS[i]}"
  done
  # containerd's shims outlive it: any still running under this cluster's state are its own.
  pkill -KILL -f "containerd-shim-runc-v2 .*-address ${STATE}/containerd/" 2>/dev/null || true
  if [[ -f "${STATE}/etc/kube-proxy.yaml" ]] && [[ -x "${BIN}/kube-proxy" ]]; then
    "${BIN}/kube-proxy" --cleanup --config "${STATE}/etc/kube-proxy.yaml" >/dev/null 2>&1 || true
  fi
  remove_kube_chains
  local target
  if [[ -d "${STATE}" ]]; then
    findmnt -rn -o TARGET | { grep -F "${STATE}/" || true; } | sort -r | while read -r target; do
      umount -l "${target}" 2>/dev/null || true
    done
  fi
  if ip link show "${BRIDGE}" >/dev/null 2>&1; then ip link del "${BRIDGE}"; fi
  # The bind mount `up` made, once no namespace (ours or podman's) is left in it.
  if [[ -f "${STATE}/netns.mounted" ]] && [[ -z "$(ls -A /run/netns 2>/dev/null)" ]]; then
    umount /run/netns 2>/dev/null || true
  fi
  rm -rf "${HOSTPATH_PV}" "${KCM_DIR}"
  restore_sysctls
  if [[ -d "${STATE}" ]]; then
    find "${STATE}" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} +
  fi
  log "down"
}

# kube-proxy --cleanup leaves kubelet's own chains (KUBE-FIREWALL, KUBE-KUBELET-CANARY,
# KUBE-IPTABLES-HINT, in IPv4 and IPv6): each table is restored without any KUBE- chain or jump.
remove_kube_chains() {
  local family table
  for family in iptables ip6tables; do
    command -v "${family}-save" >/dev/null || continue
    for table in filter nat mangle; do
      "${family}-save" -t "${table}" 2>/dev/null | grep -q 'KUBE-' || continue
      "${family}-save" -t "${table}" | grep -v -e '^:KUBE-' -e '^-A KUBE-' -e ' -j KUBE-' |
        "${family}-restore" -w -T "${table}"
    done
  done
}

down_quietly() {
  down 2>/dev/null
  rm -rf "${STATE}/logs"
}

restore_sysctls() {
  [[ -f "${STATE}/sysctl.orig" ]] || return 0
  local line
  while IFS= read -r line; do
    echo "${line#*=}" >"/proc/sys/$(tr . / <<<"${line%%=*}")" || true
  done <"${STATE}/sysctl.orig"
}

main() {
  local verb="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "${verb}" in
    up | down | status | logs | kubeconfig | image | build | preflight) "${verb}" "$@" ;;
    *) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
}

main "$@"
