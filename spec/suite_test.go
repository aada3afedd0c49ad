// Package spec holds black-box specifications of cep: they build the cep
// binary and drive it as a user does, with real files, processes and
// servers.
package spec

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

func TestSpecs(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "cep end-to-end")
}

// cepBin is the binary under test, built once for all parallel processes.
var cepBin string

// fraudData is a directory of the fraud example's streams (20,000 events,
// seed 7), written once by the example's generator for every spec that
// replays them; specs only read it.
var fraudData string

var _ = SynchronizedBeforeSuite(func() []byte {
	// The binary under test is built as users build it: without the race
	// detector even when the suite runs with it (CI's GOFLAGS), whose cost
	// would make the load specs crawl; unit tests cover races.
	bin, err := gexec.BuildWithEnvironment("github.com/cep-project/cep/cmd/cep", []string{"GOFLAGS=-buildvcs=false"})
	Expect(err).NotTo(HaveOccurred())
	data, err := os.MkdirTemp("", "cep-spec-fraud-")
	Expect(err).NotTo(HaveOccurred())
	gen := exec.Command("go", "run", "./examples/fraud/gen", "-out", data, "-events", "20000", "-seed", "7")
	gen.Dir = repoRoot()
	out, err := gen.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), string(out))
	return []byte(bin + "\x00" + data)
}, func(shared []byte) {
	bin, data, _ := bytes.Cut(shared, []byte{0})
	cepBin, fraudData = string(bin), string(data)
	// Every cep the specs run poisons a slab once its events are
	// released (event/poison.go): a read after a release fails a spec.
	Expect(os.Setenv("CEP_POISON_SLABS", "1")).To(Succeed())
	SetDefaultEventuallyTimeout(30 * time.Second)
})

var _ = SynchronizedAfterSuite(func() {}, func() {
	gexec.CleanupBuildArtifacts()
	_ = os.RemoveAll(fraudData)
})

// repoRoot is the module root, for the example's files.
func repoRoot() string {
	wd, err := os.Getwd()
	Expect(err).NotTo(HaveOccurred())
	return filepath.Dir(wd)
}

// result is a finished cep process.
type result struct {
	code   int
	stdout string
	stderr string
}

// cep runs the binary to completion in dir with stdin.
func cep(dir string, stdin []byte, args ...string) result {
	GinkgoHelper()
	cmd := exec.Command(cepBin, args...)
	cmd.Dir = dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		Expect(err).NotTo(HaveOccurred())
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// writeFile writes content under dir, creating directories.
func writeFile(dir, name, content string) string {
	GinkgoHelper()
	p := filepath.Join(dir, name)
	Expect(os.MkdirAll(filepath.Dir(p), 0o755)).To(Succeed())
	Expect(os.WriteFile(p, []byte(content), 0o644)).To(Succeed())
	return p
}
