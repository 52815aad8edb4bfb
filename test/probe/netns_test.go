package probe

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// netns is a network namespace joined to the host by a veth pair: an address in it is a
// non-loopback address the host reaches, which the API server accepts in an EndpointSlice (it
// refuses loopback ones), standing in for an aigw pod's address.
type netns struct {
	name, hostIf string
	hostIP, ip   string
}

// newNetns creates the namespace and the veth pair (root and the ip command required: CI runs as
// root). The subnet is derived from the process id so that concurrent runs do not collide.
func newNetns() (*netns, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("creating a network namespace needs root (uid %d)", os.Geteuid())
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("the ip command (iproute2) is needed to create a network namespace: %w", err)
	}
	id := os.Getpid() % 250
	n := &netns{name: fmt.Sprintf("aigwprobe%d", os.Getpid()), hostIf: fmt.Sprintf("apbh%d", os.Getpid()%100000),
		hostIP: fmt.Sprintf("10.213.%d.1", id), ip: fmt.Sprintf("10.213.%d.2", id)}
	peer := fmt.Sprintf("apbn%d", os.Getpid()%100000)
	steps := [][]string{
		{"netns", "add", n.name},
		{"link", "add", n.hostIf, "type", "veth", "peer", "name", peer},
		{"link", "set", peer, "netns", n.name},
		{"addr", "add", n.hostIP + "/24", "dev", n.hostIf},
		{"link", "set", n.hostIf, "up"},
		{"-n", n.name, "addr", "add", n.ip + "/24", "dev", peer},
		{"-n", n.name, "link", "set", peer, "up"},
		{"-n", n.name, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			_ = n.delete()
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return n, nil
}

func (n *netns) delete() error {
	_ = exec.Command("ip", "link", "del", n.hostIf).Run()
	if out, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", n.name, err, out)
	}
	return nil
}

// listen opens a TCP listener on the namespace's address: the socket is created by a thread that
// has joined the namespace, and stays there when the thread leaves it.
func (n *netns) listen() (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// The thread returns to the host's namespace; if it cannot, it is left locked and ends
		// with this goroutine.
		back := false
		defer func() {
			if back {
				runtime.UnlockOSThread()
			}
		}()
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer unix.Close(self)
		target, err := unix.Open("/var/run/netns/"+n.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			back = true
			done <- result{err: err}
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			back = true
			done <- result{err: fmt.Errorf("setns: %w", err)}
			return
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(n.ip, "0"))
		back = unix.Setns(self, unix.CLONE_NEWNET) == nil
		done <- result{ln, err}
	}()
	r := <-done
	return r.ln, r.err
}
