package format

import (
	"testing"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/sinks/siem/sinktest"
)

func BenchmarkFormat(b *testing.B) {
	for _, shape := range []string{"small", "rich"} {
		a := sinktest.SmallAlert(b)
		if shape == "rich" {
			a = sinktest.SampleAlerts(b)["basic"]
		}
		for _, name := range Names() {
			b.Run(shape+"/"+name, func(b *testing.B) { benchFormat(b, name, a) })
		}
	}
}

func benchFormat(b *testing.B, name string, a *alert.Alert) {
	b.Helper()
	f, err := New(name, Options{Product: Product{Version: "1.0.0"}})
	if err != nil {
		b.Fatal(err)
	}
	buf, _ := f.Append(nil, a)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	cpu := sinktest.ProcessCPU(b)
	for b.Loop() {
		buf, err = f.Append(buf[:0], a)
		if err != nil {
			b.Fatal(err)
		}
	}
	sinktest.ReportRates(b, cpu)
}
