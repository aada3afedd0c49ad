package siem_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/sinks/siem"
	"github.com/cep-project/cep/sinks/siem/format"
	"github.com/cep-project/cep/sinks/siem/transport/file"
	"github.com/cep-project/cep/sinks/siem/transport/hec"
)

func ExampleBuild() {
	cfgs := []siem.Config{{
		Name: "console", Type: file.Stdout, Format: format.CEF,
		MinPriority: 50,
		Mask:        []siem.MaskRule{{Field: "card"}},
	}}
	router, err := siem.Build(cfgs, siem.Options{Stdout: os.Stdout, Version: "1.0.0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	if err := router.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	for _, prio := range []int{10, 80} {
		a := &alert.Alert{
			ID: fmt.Sprintf("alert-%d", prio), Rule: "fraud.card-testing", Title: "Card testing",
			Severity: alert.High, Time: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
			Fields: map[string]any{"card": "4111111111111111"}, Priority: prio,
		}
		if err := router.Send(ctx, a); err != nil {
			fmt.Println(err)
		}
	}
	if err := router.Stop(ctx); err != nil {
		fmt.Println(err)
	}
	// Output:
	// CEF:0|cep-project|cep|1.0.0|fraud.card-testing|Card testing|8|rt=1740830400000 externalId=alert-80 cs1Label=ruleVersion cs1= cs4Label=fields cs4={"card":"************1111"} cn1Label=priority cn1=80
}

func ExampleValidateAll() {
	errs := siem.ValidateAll([]siem.Config{
		{Name: "hec", Type: hec.Kind, Transport: &hec.Config{URL: "splunk:8088"}},
	})
	for _, err := range errs {
		fmt.Println(err)
	}
	// Output:
	// sinks[0].splunk_hec.url: "splunk:8088" is not an http or https URL
	// sinks[0].splunk_hec.token: required (or token_file)
}
