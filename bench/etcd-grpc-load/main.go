// etcd-grpc-load — closed-loop put load on etcd's native gRPC API, with
// etcd's own Go client (clientv3), as the comparison's second etcd line.
//
//	etcd-grpc-load -endpoint 127.0.0.31:2379 -clients 256 -duration 15 -warmup 3
//
// Same load as `coraft-bench http`: 16-byte keys ("k" + 15 digits) uniform
// over -keys, -value-size byte values, C goroutines each waiting for its put
// before sending the next, sharing -conns gRPC connections (etcd's own
// benchmark tool shares few connections among many clients too). A put
// counts when it starts in [warmup, warmup+duration); requests/s = successes
// / (last completion - end of warmup). Prints one JSON object with the same
// field names as coraft-bench http --json. Loopback endpoints only.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"os"
	"sort"
	"sync"
	"time"

	"go.etcd.io/etcd/clientv3"
)

type result struct {
	Mode       string  `json:"mode"`
	API        string  `json:"api"`
	Workload   string  `json:"workload"`
	Target     string  `json:"target"`
	Clients    int     `json:"connections"`
	Conns      int     `json:"grpc_connections"`
	ValueSize  int     `json:"value_size"`
	Keys       int     `json:"keys"`
	WarmupS    float64 `json:"warmup_s"`
	DurationS  float64 `json:"duration_s"`
	Requests   int     `json:"requests"`
	OpsPerSec  float64 `json:"ops_per_sec"`
	P50        float64 `json:"p50_us"`
	P90        float64 `json:"p90_us"`
	P99        float64 `json:"p99_us"`
	P999       float64 `json:"p999_us"`
	Max        float64 `json:"max_us"`
	ErrorTotal int     `json:"error_total"`
}

func main() {
	endpoint := flag.String("endpoint", "127.0.0.31:2379", "etcd client address (loopback only)")
	clients := flag.Int("clients", 16, "concurrent closed-loop clients (1-10000)")
	conns := flag.Int("conns", 0, "gRPC connections shared by the clients (0: min(clients, 16))")
	duration := flag.Float64("duration", 10, "measured seconds (0.1-3600)")
	warmup := flag.Float64("warmup", 1, "seconds of load before measuring (0-600)")
	valueSize := flag.Int("value-size", 128, "bytes per value")
	keys := flag.Int("keys", 100000, "key space")
	cdf := flag.String("cdf", "", "also write the latency CDF (latency_us fraction) to this file")
	flag.Parse()
	host, _, err := net.SplitHostPort(*endpoint)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintln(os.Stderr, "etcd-grpc-load: -endpoint must be a loopback HOST:PORT")
		os.Exit(2)
	}
	if *clients < 1 || *clients > 10000 || *duration < 0.1 || *duration > 3600 || *warmup < 0 || *warmup > 600 || *keys < 1 {
		fmt.Fprintln(os.Stderr, "etcd-grpc-load: a flag is out of range (see -h)")
		os.Exit(2)
	}
	if *conns <= 0 {
		*conns = *clients
		if *conns > 16 {
			*conns = 16
		}
	}
	cs := make([]*clientv3.Client, *conns)
	for i := range cs {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{*endpoint}, DialTimeout: 5 * time.Second})
		if err != nil {
			fmt.Fprintln(os.Stderr, "etcd-grpc-load: connect:", err)
			os.Exit(1)
		}
		defer c.Close()
		cs[i] = c
	}
	start := time.Now()
	mStart := start.Add(time.Duration(*warmup * float64(time.Second)))
	mEnd := mStart.Add(time.Duration(*duration * float64(time.Second)))
	var mu sync.Mutex
	var lat []float64
	errs := 0
	last := mEnd
	var wg sync.WaitGroup
	for i := 0; i < *clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(time.Now().UnixNano() + int64(i)*7919))
			val := make([]byte, *valueSize)
			for j := range val {
				val[j] = byte('a' + rng.Intn(26))
			}
			c := cs[i%len(cs)]
			var mine []float64
			myErrs := 0
			myLast := mEnd
			for n := 0; n < 1000000000; n++ {
				t0 := time.Now()
				if !t0.Before(mEnd) {
					break
				}
				key := fmt.Sprintf("k%015d", rng.Intn(*keys))
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := c.Put(ctx, key, string(val))
				cancel()
				t1 := time.Now()
				if t0.Before(mStart) {
					continue
				}
				if t1.After(myLast) {
					myLast = t1
				}
				if err != nil {
					myErrs++
					time.Sleep(10 * time.Millisecond)
					continue
				}
				mine = append(mine, float64(t1.Sub(t0).Microseconds()))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += myErrs
			if myLast.After(last) {
				last = myLast
			}
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	sort.Float64s(lat)
	q := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		i := int(p*float64(len(lat))+0.999999) - 1
		if i < 0 {
			i = 0
		}
		if i >= len(lat) {
			i = len(lat) - 1
		}
		return lat[i]
	}
	elapsed := last.Sub(mStart).Seconds()
	r := result{Mode: "grpc", API: "etcd-grpc", Workload: "put", Target: *endpoint, Clients: *clients, Conns: *conns,
		ValueSize: *valueSize, Keys: *keys, WarmupS: *warmup, DurationS: elapsed, Requests: len(lat),
		OpsPerSec: float64(len(lat)) / elapsed, P50: q(0.5), P90: q(0.9), P99: q(0.99), P999: q(0.999), Max: q(1),
		ErrorTotal: errs}
	json.NewEncoder(os.Stdout).Encode(r)
	if *cdf != "" {
		if f, err := os.Create(*cdf); err == nil {
			fmt.Fprintf(f, "# etcd-grpc-load put, %d clients: latency_us fraction\n", *clients)
			for i := 1; i < 200; i++ {
				fmt.Fprintf(f, "%.0f %.4f\n", q(float64(i)/200), float64(i)/200)
			}
			for _, p := range []float64{0.995, 0.999, 0.9999, 1} {
				fmt.Fprintf(f, "%.0f %.4f\n", q(p), p)
			}
			f.Close()
		}
	}
	if len(lat) == 0 {
		os.Exit(1)
	}
}
