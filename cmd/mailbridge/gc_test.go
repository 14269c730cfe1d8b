package main

import (
	"os"
	"path/filepath"
	"testing"
)

// The limit is the tightest memory.max on the way from the daemon's cgroup
// up to the root, three quarters of it, or 1 GiB when that is lower.
func TestMemoryLimit(t *testing.T) {
	for _, tt := range []struct {
		name  string
		self  string            // /proc/self/cgroup; "" for none
		files map[string]string // memory.max by cgroup directory
		want  int64
	}{
		{"no cgroup file", "", nil, daemonMemoryLimit},
		{"unlimited", "0::/\n", map[string]string{"": "max\n"}, daemonMemoryLimit},
		{"container of 512 MiB", "0::/\n", map[string]string{"": "536870912\n"}, 402653184},
		{"systemd unit with MemoryMax", "0::/system.slice/mailbridge.service\n",
			map[string]string{"system.slice/mailbridge.service": "268435456\n", "system.slice": "max\n"}, 201326592},
		{"a parent is tighter", "0::/a/b\n",
			map[string]string{"a/b": "8589934592\n", "a": "400000000\n"}, 300000000},
		{"large", "0::/\n", map[string]string{"": "8589934592\n"}, daemonMemoryLimit},
		{"garbage", "0::/\n", map[string]string{"": "garbage"}, daemonMemoryLimit},
		{"cgroup v1 only", "12:memory:/x\n", nil, daemonMemoryLimit},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			self := filepath.Join(t.TempDir(), "cgroup")
			if tt.self != "" {
				if err := os.WriteFile(self, []byte(tt.self), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			for dir, content := range tt.files {
				if err := os.MkdirAll(filepath.Join(root, dir), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(root, dir, "memory.max"), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if got := memoryLimit(root, self); got != tt.want {
				t.Errorf("limit %d, want %d", got, tt.want)
			}
		})
	}
}
