package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestReadVersion(t *testing.T) {
	stamped := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/enneo/mailbridge", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "ac39be054dc116ef2153b7ee0f0eec7bec215236"},
			{Key: "vcs.time", Value: "2026-12-02T13:45:19Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	for _, tc := range []struct {
		name     string
		info     *debug.BuildInfo
		override string
		want     string // the output of mailbridge version
	}{
		{"a tagged build", stamped, "",
			"mailbridge v1.2.3\nrevision ac39be054dc116ef2153b7ee0f0eec7bec215236 (2026-12-02T13:45:19Z, modified)\ngo1.26.8 " + runtime.GOOS + "/" + runtime.GOARCH + "\n"},
		{"-X main.version wins", stamped, "v9.9.9",
			"mailbridge v9.9.9\nrevision ac39be054dc116ef2153b7ee0f0eec7bec215236 (2026-12-02T13:45:19Z, modified)\ngo1.26.8 " + runtime.GOOS + "/" + runtime.GOARCH + "\n"},
		{"a build without VCS", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, "",
			"mailbridge dev\ngo1.26.8 " + runtime.GOOS + "/" + runtime.GOARCH + "\n"},
		{"no build info", nil, "",
			"mailbridge dev\n" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			readVersion(tc.info, tc.override).write(&out)
			if out.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", out.String(), tc.want)
			}
		})
	}
}
