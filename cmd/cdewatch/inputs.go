package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/cdewatch/cdewatch/internal/config"
	"github.com/cdewatch/cdewatch/internal/ingest"
	"github.com/cdewatch/cdewatch/internal/ingest/kafka"
	"github.com/cdewatch/cdewatch/internal/ingest/syslog"
	"github.com/prometheus/client_golang/prometheus"
)

// runner is a part of serve that runs until its context ends.
type runner struct {
	name string
	run  func(context.Context) error
}

// readSecretFile reads a secret the configuration names by file.
func readSecretFile(key, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s: %s is empty", key, path)
	}
	return s, nil
}

// kafkaRunners builds a consumer per kafka input, each storing through
// msgs (whose Format is set per input).
func kafkaRunners(inputs []config.KafkaInput, az *ingest.Azure, rt *ingest.Router, store ingest.Storer, log *slog.Logger) ([]runner, error) {
	var out []runner
	for i, in := range inputs {
		key := fmt.Sprintf("kafka[%d]", i)
		kc := kafka.Config{
			Brokers: in.Brokers, Topics: in.Topics, Group: in.Group, Source: in.Source,
			TLS: in.TLS, CAFile: in.CAFile, MaxPollRecords: in.MaxPollRecords,
			Logger: log.With("component", "kafka", "input", in.Name),
		}
		if in.EventHubsConnectionStringFile != "" {
			s, err := readSecretFile(key+".event_hubs_connection_string_file", in.EventHubsConnectionStringFile)
			if err != nil {
				return nil, err
			}
			kc.EventHubsConnectionString = s
		}
		if in.SASL.Mechanism != "" {
			pw, err := readSecretFile(key+".sasl.password_file", in.SASL.PasswordFile)
			if err != nil {
				return nil, err
			}
			kc.SASL = kafka.SASL{Mechanism: in.SASL.Mechanism, User: in.SASL.User, Password: pw}
		}
		msgs := &ingest.Messages{Store: store, Format: in.Format, Azure: az, Router: rt, Now: az.Now}
		via := "kafka:" + in.Name
		c, err := kafka.New(kc, func(ctx context.Context, source string, ms []kafka.Message) error {
			batch := make([]ingest.Message, len(ms))
			for j, m := range ms {
				batch[j] = ingest.Message{Label: m.Topic + "/" + strconv.Itoa(int(m.Partition)) + "@" + strconv.FormatInt(m.Offset, 10), Value: m.Value}
			}
			return msgs.Deliver(ctx, source, via, batch)
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		out = append(out, runner{name: "kafka " + in.Name, run: c.Run})
	}
	return out, nil
}

// syslogRunners binds every syslog listener; the caller closes them when
// a later step of the start fails (close). Each listener's metrics are
// registered in reg.
func syslogRunners(listeners []config.SyslogListener, store ingest.Storer, reg prometheus.Registerer, log *slog.Logger) (rs []runner, closeAll func(), err error) {
	var servers []*syslog.Server
	closeAll = func() {
		for _, s := range servers {
			s.Close()
		}
	}
	for i, l := range listeners {
		s, err := syslog.Listen(syslog.Listener{
			Network: l.Network, Address: l.Address, Source: l.Source, CertFile: l.CertFile, KeyFile: l.KeyFile,
			ClientCAFile: l.ClientCAFile, ClientSources: l.ClientSources, MaxMessageBytes: int(l.MaxMessageBytes),
		}, syslog.Options{Store: store, Log: log.With("component", "syslog", "listener", l.Network+" "+l.Address)})
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("syslog[%d]: %w", i, err)
		}
		servers = append(servers, s)
		if err := reg.Register(s.Collector()); err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("syslog[%d]: metrics: %w", i, err)
		}
		rs = append(rs, runner{name: "syslog " + l.Network + " " + s.Addr().String(), run: s.Serve})
	}
	return rs, closeAll, nil
}

// setOf returns the set of the strings.
func setOf(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}
