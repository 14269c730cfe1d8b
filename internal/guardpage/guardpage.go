//go:build unix

// Package guardpage gives tests byte slices that end (or start) at the
// edge of an inaccessible page, so that code which reads or writes past
// a slice's end (or before its start) faults instead of touching a
// neighbour's memory unseen: the check for vector code that must stay
// within its operands.
package guardpage

import (
	"syscall"
	"testing"
)

// Buffers are n-byte slices next to an inaccessible page.
type Buffers struct {
	mem  []byte
	page int
}

// New maps memory for slices of up to n bytes between two inaccessible
// pages, unmapped at the end of the test.
func New(t testing.TB, n int) *Buffers {
	t.Helper()
	page := syscall.Getpagesize()
	body := (n + page - 1) / page * page
	if body == 0 {
		body = page
	}
	mem, err := syscall.Mmap(-1, 0, body+2*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[:page], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mprotect(mem[page+body:], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	return &Buffers{mem: mem[page : page+body], page: page}
}

// End is an n-byte slice whose last byte is followed by the guard page.
func (g *Buffers) End(n int) []byte {
	s := g.mem[len(g.mem)-n:]
	return s[:n:n]
}

// Start is an n-byte slice whose first byte follows the guard page.
func (g *Buffers) Start(n int) []byte {
	return g.mem[:n:n]
}
