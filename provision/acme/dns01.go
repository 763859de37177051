package acme

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/go-acme/lego/v5/challenge"
	"github.com/go-acme/lego/v5/challenge/dns01"
)

// DNSChallenger publishes the TXT record that answers a DNS-01
// challenge. fqdn is the domain being validated (the record lives at
// _acme-challenge.<fqdn>) and value the challenge's digest (see
// ChallengeValue). provision/cloudflare's Client implements it.
type DNSChallenger interface {
	// SetACMEChallenge publishes value; setting it again is harmless.
	SetACMEChallenge(ctx context.Context, fqdn, value string) error
	// ClearACMEChallenge removes what SetACMEChallenge published;
	// nothing to remove is not an error.
	ClearACMEChallenge(ctx context.Context, fqdn, value string) error
}

// Propagation bounds of DNS-01: how long the record may take to be
// visible before the ACME server is asked to validate, and how often
// that is checked.
const (
	PropagationTimeout  = 2 * time.Minute
	PropagationInterval = 2 * time.Second
)

// ChallengeValue is the TXT record's content for a DNS-01 key
// authorization: the unpadded base64url SHA-256 digest of keyAuth (RFC
// 8555 §8.4), as lego's dns01.GetChallengeInfo computes it.
func ChallengeValue(keyAuth string) string {
	sum := sha256.Sum256([]byte(keyAuth))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// dnsProvider is lego's challenge.Provider for DNS-01, backed by a
// DNSChallenger.
type dnsProvider struct {
	dns DNSChallenger
}

var _ challenge.ProviderTimeout = dnsProvider{}

func (p dnsProvider) Present(ctx context.Context, domain, _, keyAuth string) error {
	if err := p.dns.SetACMEChallenge(ctx, domain, ChallengeValue(keyAuth)); err != nil {
		return fmt.Errorf("acme: publish the DNS-01 record for %s: %w", domain, err)
	}
	return nil
}

func (p dnsProvider) CleanUp(ctx context.Context, domain, _, keyAuth string) error {
	if err := p.dns.ClearACMEChallenge(ctx, domain, ChallengeValue(keyAuth)); err != nil {
		return fmt.Errorf("acme: remove the DNS-01 record for %s: %w", domain, err)
	}
	return nil
}

func (dnsProvider) Timeout() (timeout, interval time.Duration) {
	return PropagationTimeout, PropagationInterval
}

// dns01Options are lego's DNS-01 options for cfg: with Nameservers, the
// propagation check asks only them; otherwise lego's own check (the
// system's resolvers, then the zone's authoritative servers).
func dns01Options(cfg Config) []dns01.ChallengeOption {
	if len(cfg.Nameservers) == 0 {
		return nil
	}
	servers := make([]string, len(cfg.Nameservers))
	for i, ns := range cfg.Nameservers {
		if _, _, err := net.SplitHostPort(ns); err != nil {
			ns = net.JoinHostPort(ns, "53")
		}
		servers[i] = ns
	}
	return []dns01.ChallengeOption{dns01.WrapPreCheck(
		func(ctx context.Context, _, fqdn, value string, _ dns01.PreCheckFunc) (bool, error) {
			return txtVisible(ctx, servers, fqdn, value)
		})}
}

// txtVisible reports whether every server answers value among the TXT
// records of fqdn. A server that cannot be asked is an error (lego keeps
// polling until PropagationTimeout).
func txtVisible(ctx context.Context, servers []string, fqdn, value string) (bool, error) {
	if !strings.HasSuffix(fqdn, ".") {
		fqdn += "."
	}
	var errs []error
	for _, ns := range servers {
		r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, ns)
		}}
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		txts, err := r.LookupTXT(qctx, fqdn)
		cancel()
		var dnsErr *net.DNSError
		switch {
		case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
			return false, nil
		case err != nil:
			errs = append(errs, fmt.Errorf("acme: TXT %s at %s: %w", fqdn, ns, err))
		case !slices.Contains(txts, value):
			return false, nil
		}
	}
	if len(errs) > 0 {
		return false, errors.Join(errs...)
	}
	return true, nil
}
