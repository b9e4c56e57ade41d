package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// writesNS holds the ConfigMaps of the write measurement.
const writesNS = "bench-writes"

// writeRow is the API server's write rate with some client goroutines.
type writeRow struct {
	clients int
	verb    string // "create" or "update"
	n       int
	elapsed time.Duration
	lat     durations
}

func (r writeRow) perSecond() float64 { return float64(r.n) / r.elapsed.Seconds() }

// apiWrites measures how many tiny writes per second the API server takes:
// ConfigMaps with one key, created, then updated, by each number of client
// goroutines in cfg.writeClients, for cfg.writeDuration each. Each
// goroutine sends its next request when the last is answered.
func (bn *bench) apiWrites(ctx context.Context) ([]writeRow, error) {
	if err := bn.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: writesNS}}); err != nil {
		return nil, fmt.Errorf("creating namespace %s: %w", writesNS, err)
	}
	var rows []writeRow
	for _, g := range bn.cfg.writeClients {
		logf("API writes: %d client goroutines, ConfigMap create then update, %s each", g, bn.cfg.writeDuration)
		made := make([][]*corev1.ConfigMap, g)
		create, err := bn.writeRun(ctx, g, "create", func(ctx context.Context, w, i int) error {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: writesNS, Name: fmt.Sprintf("cm-%d-%d-%d", g, w, i)},
				Data: map[string]string{"k": "v"}}
			if err := bn.c.Create(ctx, cm); err != nil {
				return err
			}
			made[w] = append(made[w], cm)
			return nil
		})
		if err != nil {
			return nil, err
		}
		update, err := bn.writeRun(ctx, g, "update", func(ctx context.Context, w, i int) error {
			cm := made[w][i%len(made[w])]
			cm.Data["k"] = fmt.Sprint(i)
			return bn.c.Update(ctx, cm)
		})
		if err != nil {
			return nil, err
		}
		rows = append(rows, create, update)
		if err := bn.c.DeleteAllOf(ctx, &corev1.ConfigMap{}, client.InNamespace(writesNS)); err != nil {
			return nil, fmt.Errorf("deleting the ConfigMaps: %w", err)
		}
	}
	return rows, nil
}

// writeRun runs write on g goroutines for cfg.writeDuration; write gets
// its goroutine's number and its call's number in that goroutine.
func (bn *bench) writeRun(ctx context.Context, g int, verb string, write func(ctx context.Context, w, i int) error) (writeRow, error) {
	row := writeRow{clients: g, verb: verb}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var first error
	start := time.Now()
	end := start.Add(bn.cfg.writeDuration)
	for w := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat durations
			for i := 0; time.Now().Before(end) && ctx.Err() == nil; i++ {
				t0 := time.Now()
				if err := write(ctx, w, i); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("%s: %w", verb, err)
					}
					mu.Unlock()
					return
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			row.lat = append(row.lat, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	row.elapsed, row.n = time.Since(start), len(row.lat)
	return row, first
}

func (r *report) apiWrites(rows []writeRow, cfg *config) {
	r.printf("### The API server's own write rate\n\n")
	r.printf("A ConfigMap with one key, written by %v client goroutines, each sending its next request when the last is answered, %s per run, on the run's own etcd and kube-apiserver (internal/testenv) before anything else of the run starts.\n\n", cfg.writeClients, cfg.writeDuration)
	r.printf("| clients | verb | writes/s | p50 | p99 |\n|---|---|---|---|---|\n")
	for _, row := range rows {
		r.printf("| %d | %s | %.0f | %.1f ms | %.1f ms |\n", row.clients, row.verb, row.perSecond(),
			float64(row.lat.median().Microseconds())/1000, float64(row.lat.quantile(0.99).Microseconds())/1000)
	}
	r.printf("\n")
}
