package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		content string // "" for no file
		want    int64
	}{
		{"", daemonMemoryLimit},
		{"max\n", daemonMemoryLimit},
		{"536870912\n", 402653184}, // 512 MiB: 3/4 of it
		{"8589934592\n", daemonMemoryLimit},
		{"garbage", daemonMemoryLimit},
	} {
		path := filepath.Join(dir, "memory.max")
		os.Remove(path)
		if tt.content != "" {
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if got := memoryLimit(path); got != tt.want {
			t.Errorf("memory.max %q: limit %d, want %d", tt.content, got, tt.want)
		}
	}
}
