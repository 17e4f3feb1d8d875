// Package images tests the container images that hack/images.sh builds
// without an engine, the way a node uses them: imported into a throwaway
// containerd with ctr and run by runc. Its tests need root, containerd,
// ctr, runc and a static busybox (apt-get install containerd runc
// busybox-static); without them they skip with one line saying why, except
// under CI=true, where they fail.
package images

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// Unavailable skips t with why, or fails it under CI=true: CI must not
// pass by skipping.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("cannot run, and CI=true, so this fails rather than skips: %s", why)
	}
	t.Skipf("skipped: %s", why)
}

// RequireRoot ends t unless it runs as root with each of tools in PATH
// (see Unavailable). Under go test -short it skips: make test-images runs
// these tests.
func RequireRoot(t testing.TB, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped under -short (needs root; make test-images runs it)")
	}
	if os.Geteuid() != 0 {
		Unavailable(t, "needs root")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			Unavailable(t, tool+" is not installed (apt-get install containerd runc busybox-static util-linux)")
		}
	}
}
