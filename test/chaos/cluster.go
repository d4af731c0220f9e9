package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/testenv/proc"
)

// serviceAccount is who the deployment runs the manager as: the shipped
// RBAC, not an admin, decides what it may do.
const serviceAccount = "system:serviceaccount:directory-operator-system:directory-operator-controller-manager"

// cluster is envtest's kube-apiserver + etcd with the kustomize deployment
// applied, plus an admin client for the suite itself.
type cluster struct {
	root, dir string
	env       *envtest.Environment
	admin     *rest.Config
	kube      client.Client
	// adminKubeconfig and operatorKubeconfig are files for kubectl and the
	// manager binary.
	adminKubeconfig, operatorKubeconfig string
	kubectl                             string
}

func startCluster(root, dir string) (*cluster, error) {
	c := &cluster{root: root, dir: dir, kubectl: filepath.Join(root, "bin", "k8s", "kubectl")}
	if _, err := os.Stat(c.kubectl); err != nil {
		return nil, fmt.Errorf("kubectl missing (run `make envtest`): %w", err)
	}
	c.env = &envtest.Environment{
		BinaryAssetsDirectory: filepath.Join(root, "bin", "k8s"),
		// A loaded 2-core machine can take longer than envtest's 20 s default.
		ControlPlaneStartTimeout: 90 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	// A certificate directory of our own survives an API server restart:
	// envtest deletes (and regenerates) a directory it created itself, which
	// would invalidate every kubeconfig handed out before the restart.
	certDir := filepath.Join(dir, "apiserver")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, err
	}
	c.env.ControlPlane.GetAPIServer().CertDir = certDir
	cfg, err := c.env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting control plane: %w", err)
	}
	c.admin = cfg
	cfg.QPS, cfg.Burst = 200, 400
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	if c.kube, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return c, err
	}
	if c.adminKubeconfig, err = proc.Kubeconfig(c.env, dir, "chaos-admin", "system:masters"); err != nil {
		return c, err
	}
	if c.operatorKubeconfig, err = proc.Kubeconfig(c.env, dir, serviceAccount, "system:serviceaccounts"); err != nil {
		return c, err
	}
	// The deployment as users install it: CRDs, namespace, RBAC.
	if _, err := c.kubectlRun("apply", "-k", filepath.Join(root, "config", "default")); err != nil {
		return c, err
	}
	if _, err := c.kubectlRun("wait", "--for=condition=Established", "--timeout=120s", "crd", "--all"); err != nil {
		return c, err
	}
	return c, nil
}

func (c *cluster) kubectlRun(args ...string) (string, error) {
	out, err := exec.Command(c.kubectl, append([]string{"--kubeconfig", c.adminKubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// shell runs a documented command line (an export's status.export.command)
// as a user would paste it: bash, the built kubectl first on PATH.
func (c *cluster) shell(command string) ([]byte, error) {
	cmd := exec.Command("bash", "-o", "pipefail", "-c", command)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.adminKubeconfig,
		"PATH="+filepath.Dir(c.kubectl)+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%q: %w: %s", command, err, stderr.String())
	}
	return out, nil
}

// killAPIServer is kill -9 of kube-apiserver (etcd keeps running), then a
// restart on the same etcd, ports and certificates after outage.
func (c *cluster) killAPIServer(outage time.Duration) error {
	pid, err := childPID("kube-apiserver")
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill -9 kube-apiserver (pid %d): %w", pid, err)
	}
	// envtest's Stop reaps the dead process (and would SIGTERM a live one).
	_ = c.env.ControlPlane.APIServer.Stop()
	time.Sleep(outage)
	if err := c.env.ControlPlane.APIServer.Start(); err != nil {
		return fmt.Errorf("restarting kube-apiserver: %w", err)
	}
	return nil
}

// childPID finds this process's child running the named binary: the
// kube-apiserver envtest started, never another one on the machine.
func childPID(name string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// stat is "pid (comm) state ppid ..."; comm may contain spaces.
		s := string(stat)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		fields := strings.Fields(s[closing+1:])
		if len(fields) < 2 || s[open+1:closing] != name {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == self {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no child process %s of pid %d", name, self)
}

func (c *cluster) stop() {
	if c.env != nil {
		_ = c.env.Stop()
	}
	_ = os.RemoveAll(filepath.Join(c.dir, "apiserver"))
}
