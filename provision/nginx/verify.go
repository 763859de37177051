package nginx

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// verifyTimeout bounds each check of Verify when ctx has no earlier
// deadline.
const verifyTimeout = 10 * time.Second

// Verify checks, through nginx itself (HTTPAddr, or HTTPSAddr when tls),
// that the site of host answers:
//   - GET /web/health with Host: host (and SNI host, the certificate
//     checked against rootCAs, nil meaning the system roots) gives 200;
//   - a websocket upgrade on /websocket gives 101 with the right
//     Sec-WebSocket-Accept, which only the backend (Odoo's gevent port)
//     computes.
//
// Redirects are not followed: a redirect is a failure that names its
// Location. The error says which check failed and what came back (status
// and the first bytes of the body). Verify makes one attempt; a reload
// takes effect a moment after it is asked, so a caller right after
// Install retries for a few seconds.
func (s *Sites) Verify(ctx context.Context, host string, useTLS bool, rootCAs *x509.CertPool) error {
	addr, scheme := s.cfg.HTTPAddr, "http"
	if useTLS {
		addr, scheme = s.cfg.HTTPSAddr, "https"
	}
	if err := s.verifyHealth(ctx, addr, scheme, host, rootCAs); err != nil {
		return fmt.Errorf("nginx: verify %s: health check %s://%s/web/health via %s: %w", host, scheme, host, addr, err)
	}
	if err := s.verifyWebsocket(ctx, addr, scheme, host, rootCAs); err != nil {
		return fmt.Errorf("nginx: verify %s: websocket upgrade on %s://%s/websocket via %s: %w", host, scheme, host, addr, err)
	}
	s.log.Info("nginx: site verified", "host", host, "tls", useTLS)
	return nil
}

func tlsConfig(host string, rootCAs *x509.CertPool) *tls.Config {
	return &tls.Config{ServerName: host, RootCAs: rootCAs, MinVersion: tls.VersionTLS12}
}

func (s *Sites) verifyHealth(ctx context.Context, addr, scheme, host string, rootCAs *x509.CertPool) error {
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	dialer := &net.Dialer{}
	client := &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, addr)
			},
			TLSClientConfig:   tlsConfig(host, rootCAs),
			DisableKeepAlives: true,
			ForceAttemptHTTP2: false,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+host+"/web/health", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("want 200, got %s", describe(resp))
	}
	return nil
}

func (s *Sites) verifyWebsocket(ctx context.Context, addr, scheme, host string, rootCAs *x509.CertPool) error {
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if scheme == "https" {
		tc := tls.Client(conn, tlsConfig(host, rootCAs))
		if err := tc.HandshakeContext(ctx); err != nil {
			return err
		}
		conn = tc
	}

	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	key := base64.StdEncoding.EncodeToString(raw)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+host+"/websocket", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", key)
	req.Header.Set("Origin", scheme+"://"+host)
	if err := req.Write(conn); err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		return fmt.Errorf("want 101, got %s", describe(resp))
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), AcceptKey(key); got != want {
		return fmt.Errorf("got 101 but Sec-WebSocket-Accept is %q, want %q (not answered by a websocket server)", got, want)
	}
	return nil
}

// AcceptKey is the Sec-WebSocket-Accept that a websocket server answers to
// the Sec-WebSocket-Key key (RFC 6455, section 4.2.2).
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// describe renders a response for an error: status, Location of a
// redirect, and the first bytes of the body.
func describe(resp *http.Response) string {
	var b strings.Builder
	b.WriteString(resp.Status)
	if loc := resp.Header.Get("Location"); loc != "" {
		fmt.Fprintf(&b, " (Location: %s)", loc)
	}
	if srv := resp.Header.Get("Server"); srv != "" {
		fmt.Fprintf(&b, " from %s", srv)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if text := strings.Join(strings.Fields(string(body)), " "); text != "" {
		fmt.Fprintf(&b, ": %q", text)
	}
	return b.String()
}
