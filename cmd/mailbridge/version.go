package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
)

// version, when set at build time with -ldflags "-X main.version=v1.2.3",
// overrides the module version the Go toolchain records. A release built
// from a tag needs no flag: `go install …@v1.2.3` and `go build` in a
// checkout of the tag record the version and the VCS revision themselves.
var version string

// buildVersion is what a binary knows about where it came from.
type buildVersion struct {
	Version   string // the module version: v1.2.3, a pseudo-version, or "dev"
	Revision  string // the VCS revision, empty when unknown
	Time      string // the revision's commit time (RFC 3339)
	Modified  bool   // built from a working tree with uncommitted changes
	GoVersion string
}

// currentVersion reads the binary's build information once.
var currentVersion = sync.OnceValue(func() buildVersion {
	info, _ := debug.ReadBuildInfo()
	return readVersion(info, version)
})

// readVersion takes the version from override, else from the main
// module's version in info. A build in a checkout records "(devel)", or,
// from Go 1.24 on, a pseudo-version from the VCS; "dev" stands in when
// there is none.
func readVersion(info *debug.BuildInfo, override string) buildVersion {
	v := buildVersion{Version: override, GoVersion: runtime.Version()}
	if info == nil {
		if v.Version == "" {
			v.Version = "dev"
		}
		return v
	}
	if v.Version == "" {
		v.Version = info.Main.Version
	}
	if v.Version == "" || v.Version == "(devel)" {
		v.Version = "dev"
	}
	if info.GoVersion != "" {
		v.GoVersion = info.GoVersion
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// String is the version as logs, metrics and the User-Agent show it.
func (v buildVersion) String() string { return v.Version }

// write prints the version, the revision and the toolchain, one a line.
func (v buildVersion) write(w io.Writer) {
	fmt.Fprintln(w, "mailbridge", v.Version)
	if v.Revision != "" {
		var notes []string
		if v.Time != "" {
			notes = append(notes, v.Time)
		}
		if v.Modified {
			notes = append(notes, "modified")
		}
		rev := "revision " + v.Revision
		if len(notes) > 0 {
			rev += " (" + strings.Join(notes, ", ") + ")"
		}
		fmt.Fprintln(w, rev)
	}
	fmt.Fprintln(w, v.GoVersion, runtime.GOOS+"/"+runtime.GOARCH)
}
