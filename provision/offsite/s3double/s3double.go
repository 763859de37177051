// Package s3double is a test double of an S3 service, for the tests of
// odoobot's offsite copies: gofakes3 serving one bucket from memory on
// a loopback address, which restic's S3 backend speaks to as it would
// to a real one. It is not S3: it keeps objects in memory, accepts any
// access key, and can be made to fail: every request answered 503
// (SetDown), or the requests for some keys held until their client
// gives up (SetHang), so that a test sees an unreachable or stalled
// repository. Tests call Start; cmd/odoobot-s3double serves one as a
// separate process.
package s3double

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// AccessKey and SecretKey are the credentials Env gives restic; the
// double accepts any.
const (
	AccessKey = "odoobot-s3double"
	SecretKey = "odoobot-s3double-secret"
)

// Server is a running double. Its methods are safe for concurrent use.
type Server struct {
	bucket string
	mem    *s3mem.Backend
	ln     net.Listener
	srv    *http.Server
	down   atomic.Bool
	done   chan struct{}
	closed chan struct{} // closed by Close: held requests end
	once   sync.Once
	caPEM  []byte // the certificate served over TLS (StartTLS)

	mu       sync.Mutex
	hang     string   // the key prefix whose requests are held; "" none
	requests []string // "METHOD key" of each request received
}

// Start serves bucket, created empty, on addr, which must be a loopback
// address ("127.0.0.1:0" picks a free port). The caller closes the
// Server.
func Start(addr, bucket string) (*Server, error) { return start(addr, bucket, false) }

// StartTLS is Start serving HTTPS, with a certificate for localhost and
// 127.0.0.1 signed by itself, whose PEM CAPEM gives: for clients that
// speak S3 only over TLS (pgBackRest), told to trust it.
func StartTLS(addr, bucket string) (*Server, error) { return start(addr, bucket, true) }

func start(addr, bucket string, withTLS bool) (*Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("s3double: address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("s3double: address %q: a loopback address is required (127.0.0.1:PORT)", addr)
	}
	if len(bucket) < 3 || len(bucket) > 63 || strings.Trim(bucket, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return nil, fmt.Errorf("s3double: bucket %q: S3 takes 3 to 63 lowercase letters, digits and hyphens", bucket)
	}
	mem := s3mem.New()
	if err := mem.CreateBucket(bucket); err != nil {
		return nil, fmt.Errorf("s3double: create bucket %q: %w", bucket, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("s3double: listen: %w", err)
	}
	s := &Server{bucket: bucket, mem: mem, ln: ln, done: make(chan struct{}), closed: make(chan struct{})}
	s.srv = &http.Server{
		Handler:           s.handler(gofakes3.New(mem).Server()),
		ReadHeaderTimeout: 10 * time.Second,
	}
	if withTLS {
		cert, caPEM, err := selfSigned()
		if err != nil {
			ln.Close()
			return nil, err
		}
		s.caPEM = caPEM
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.ln = tls.NewListener(ln, s.srv.TLSConfig)
	}
	go func() {
		defer close(s.done)
		s.srv.Serve(s.ln)
	}()
	return s, nil
}

// selfSigned is a certificate for localhost and 127.0.0.1, valid a day,
// that is its own CA, and its PEM.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("s3double: key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "odoobot s3double"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("s3double: certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// CAPEM is the PEM of the certificate a double started with StartTLS
// serves (its own CA); nil for one serving plain HTTP.
func (s *Server) CAPEM() []byte { return s.caPEM }

// Port is the port the double listens on.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Bucket is the double's one bucket.
func (s *Server) Bucket() string { return s.bucket }

// handler records each request, holds it while its key is to hang,
// answers 503 while the double is down, and serves it otherwise.
func (s *Server) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/"+s.bucket), "/")
		s.mu.Lock()
		s.requests = append(s.requests, r.Method+" "+key)
		hang := s.hang
		s.mu.Unlock()
		if hang != "" && strings.HasPrefix(key, hang) {
			// Read the body as a slow server would, then never answer.
			io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-s.closed:
			}
			return
		}
		if s.down.Load() {
			// As S3 answers when it cannot serve: 503 and its XML error.
			w.Header().Set("Content-Type", "application/xml")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
				`<Error><Code>ServiceUnavailable</Code><Message>Service is unable to handle request.</Message></Error>`)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Addr is the address the double listens on (127.0.0.1:PORT).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Repository is the bucket as restic names it:
// s3:http://127.0.0.1:PORT/BUCKET.
func (s *Server) Repository() string {
	return "s3:http://" + s.Addr() + "/" + s.bucket
}

// Env is what restic needs beside Repository to reach the double: an
// access key pair ("KEY=value"). Without one, restic's S3 backend would
// look for credentials elsewhere (an instance's metadata service).
func (s *Server) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + AccessKey, "AWS_SECRET_ACCESS_KEY=" + SecretKey}
}

// SetDown makes every request answered 503 Service Unavailable, with
// S3's XML error, while down is true, as an S3 service out of order;
// false serves again, with the objects kept.
func (s *Server) SetDown(down bool) { s.down.Store(down) }

// SetHang holds every request for a key starting with prefix ("data/":
// restic's pack uploads): its body is read and no answer ever comes,
// until the client gives up or the double closes, as a storage that
// stalls mid-upload. "" holds none again.
func (s *Server) SetHang(prefix string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang = prefix
}

// Requests are the requests received so far, each "METHOD KEY" with the
// key relative to the bucket ("PUT data/3f/3f…", "HEAD config"), in the
// order they arrived: a test waits on it for a point in restic's work.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Put stores an object under key, as a test's seed (a repository made
// elsewhere, copied in).
func (s *Server) Put(key string, data []byte) error {
	meta := map[string]string{"Last-Modified": time.Now().UTC().Format(http.TimeFormat)}
	if _, err := s.mem.PutObject(s.bucket, key, meta, bytes.NewReader(data), int64(len(data)), nil); err != nil {
		return fmt.Errorf("s3double: put %s: %w", key, err)
	}
	return nil
}

// Keys are the keys of the objects stored under prefix, sorted.
func (s *Server) Keys(prefix string) ([]string, error) {
	p := gofakes3.NewPrefix(&prefix, nil)
	var keys []string
	page := gofakes3.ListBucketPage{}
	for {
		list, err := s.mem.ListBucket(s.bucket, &p, page)
		if err != nil {
			return nil, fmt.Errorf("s3double: list %s: %w", prefix, err)
		}
		for _, c := range list.Contents {
			keys = append(keys, c.Key)
		}
		if !list.IsTruncated || list.NextMarker == "" {
			break
		}
		page = gofakes3.ListBucketPage{Marker: list.NextMarker, HasMarker: true}
	}
	slices.Sort(keys)
	return keys, nil
}

// Close stops listening and ends the requests in progress; the objects
// are gone with it. Closing again does nothing.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closed)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err = s.srv.Shutdown(ctx); err != nil {
			err = s.srv.Close()
		}
		<-s.done
	})
	return err
}
