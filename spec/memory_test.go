package spec

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// overhead is what a process holds beyond its memory limit's shares: the
// Go runtime, the binary, buffers of events in flight and of sinks.
const overhead = 160 << 20

// writeLines writes n lines made by line into path.
func writeLines(path string, n int, line func(i int) string) {
	GinkgoHelper()
	f, err := os.Create(path)
	Expect(err).NotTo(HaveOccurred())
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range n {
		_, err := w.WriteString(line(i) + "\n")
		Expect(err).NotTo(HaveOccurred())
	}
	Expect(w.Flush()).To(Succeed())
	Expect(f.Close()).To(Succeed())
}

var summaryInt = func(stderr, key string) int64 {
	GinkgoHelper()
	m := regexp.MustCompile(key + `=(\d+)`).FindStringSubmatch(stderr)
	Expect(m).NotTo(BeNil(), "no %s in %s", key, stderr)
	v, err := strconv.ParseInt(m[1], 10, 64)
	Expect(err).NotTo(HaveOccurred())
	return v
}

var _ = Describe("memory under a 512 MB limit", Ordered, func() {
	const limit = 512 << 20
	var dir string
	BeforeAll(func() {
		dir = GinkgoT().TempDir()
		writeFile(dir, "rules/seq.yaml", `id: m.seq
title: a then b, never b
streams: [s]
by: [event.k]
sequence:
  within: 24h
  steps:
    - {name: a, where: event.t == "a"}
    - {name: b, where: event.t == "b"}
`)
		writeFile(dir, "rules/win.yaml", `id: m.win
title: a large sum, never reached
streams: [s]
by: [event.k]
aggregate:
  window: {type: sliding, size: 24h}
  measures: {total: sum(event.x)}
  having: total > 1000000.0
`)
		writeFile(dir, "rules/join.yaml", `id: m.join
title: a and b of one key
streams: [s, burst]
join:
  within: 24h
  sides:
    - {name: a, where: event.t == "a", by: [event.k]}
    - {name: b, where: event.t == "b", by: [event.k]}
`)
		writeFile(dir, "rules/none.yaml", `id: m.none
title: never matches
streams: [big]
match: event.k == "nobody"
`)
	})

	run := func(extra []string, inputs ...string) string {
		GinkgoHelper()
		args := append([]string{"run", "--rules", "rules", "--output", "alerts.jsonl", "--memory-limit", "512MiB"}, extra...)
		for _, in := range inputs {
			args = append(args, "--input", in)
		}
		r := cep(dir, nil, args...)
		Expect(r.code).To(Equal(0), r.stderr)
		rss := summaryInt(r.stderr, "peak_rss_bytes")
		GinkgoWriter.Printf("peak RSS %d MiB\n", rss>>20)
		Expect(rss).To(BeNumerically("<=", limit+overhead), "peak RSS %d MiB", rss>>20)
		return r.stderr
	}

	It("stays within it on 200 events of about 1 MB each", func() {
		pad := strings.Repeat("x", 1000*1000)
		writeLines(filepath.Join(dir, "big.jsonl"), 200, func(i int) string {
			return fmt.Sprintf(`{"id":"b%d","ts":%d,"k":"k%d","blob":%q}`, i, 1_767_225_600+i, i, pad)
		})
		run(nil, "big=big.jsonl")
	})

	It("stays within it on 2M keys that never complete a sequence, a window or a join, shedding and counting", func() {
		writeLines(filepath.Join(dir, "keys.jsonl"), 2_000_000, func(i int) string {
			return fmt.Sprintf(`{"id":"e%d","ts":%d,"k":"k%d","t":"a","x":1}`, i, 1_767_225_600_000+int64(i), i)
		})
		// The file is in time order: sorting it would only cost time.
		stderr := run([]string{"--sort=false"}, "s=keys.jsonl")
		Expect(summaryInt(stderr, "state_shed")).To(BeNumerically(">", 0))
		Expect(stderr).To(ContainSubstring("state budget exceeded"))
	})

	It("stays within it on a burst of 1M events on one join key, and caps the alerts one event makes", func() {
		writeLines(filepath.Join(dir, "burst.jsonl"), 1_000_001, func(i int) string {
			t := "a"
			if i == 1_000_000 {
				t = "b"
			}
			return fmt.Sprintf(`{"id":"j%d","ts":%d,"k":"one","t":%q}`, i, 1_767_225_600_000+int64(i), t)
		})
		run([]string{"--sort=false"}, "burst=burst.jsonl")
		data, err := os.ReadFile(filepath.Join(dir, "alerts.jsonl"))
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Count(string(data), "\n")).To(BeNumerically("<=", 1000))
	})
})
