package discordtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func post(t *testing.T, method, url string, body any) (int, string) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(resp.Body)
	return resp.StatusCode, out.String()
}

// The double refuses, as Discord documents, an autocomplete result that
// is not a list of at most 25 choices with 1–100 character names and
// values of at most 100, and records the choices of one it accepts.
func TestAutocompleteResultIsCheckedAsDiscordDoes(t *testing.T) {
	s := New(t, Options{})
	url := s.APIURL() + "interactions/623456789012345678/tok/callback"
	choices := func(n int, name, value string) []any {
		out := []any{}
		for range n {
			out = append(out, map[string]any{"name": name, "value": value})
		}
		return out
	}
	for _, tc := range []struct {
		what string
		body map[string]any
		code int
	}{
		{"2 choices", map[string]any{"type": 8, "data": map[string]any{"choices": choices(2, "acme (ready)", "acme")}}, 204},
		{"no choice", map[string]any{"type": 8, "data": map[string]any{"choices": []any{}}}, 204},
		{"26 choices", map[string]any{"type": 8, "data": map[string]any{"choices": choices(26, "a", "a")}}, 400},
		{"no choices list", map[string]any{"type": 8, "data": map[string]any{}}, 400},
		{"an empty name", map[string]any{"type": 8, "data": map[string]any{"choices": choices(1, "", "a")}}, 400},
		{"a 101-character name", map[string]any{"type": 8, "data": map[string]any{"choices": choices(1, strings.Repeat("é", 101), "a")}}, 400},
		{"a 101-character value", map[string]any{"type": 8, "data": map[string]any{"choices": choices(1, "a", strings.Repeat("a", 101))}}, 400},
		{"a deferred message", map[string]any{"type": 5}, 204},
	} {
		code, body := post(t, "POST", url, tc.body)
		if code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.what, code, body, tc.code)
		}
		if code == 400 && !strings.Contains(body, "50035") {
			t.Errorf("%s: refused without Discord's code 50035: %s", tc.what, body)
		}
	}
	first := s.Calls()[0]
	if first.Status != 204 || s.Calls()[2].Status != 400 {
		t.Errorf("recorded statuses %d, %d; want 204, 400", first.Status, s.Calls()[2].Status)
	}
	if got := fmt.Sprint(first.Choices()); got != "[{acme (ready) acme} {acme (ready) acme}]" {
		t.Errorf("recorded choices %s", got)
	}
}

// The double refuses, as Discord documents, a command whose option has
// both autocomplete and choices, or autocomplete on a boolean.
func TestRegisteredAutocompleteIsCheckedAsDiscordDoes(t *testing.T) {
	s := New(t, Options{})
	url := s.APIURL() + "applications/123456789012345678/guilds/223456789012345678/commands"
	cmd := func(opt map[string]any) []any {
		return []any{map[string]any{"name": "odoo", "type": 1, "description": "d", "options": []any{
			map[string]any{"name": "create", "type": 1, "description": "d", "options": []any{opt}}}}}
	}
	for _, tc := range []struct {
		what string
		opt  map[string]any
		code int
	}{
		{"autocomplete", map[string]any{"name": "mode", "type": 3, "description": "d", "autocomplete": true}, 200},
		{"choices", map[string]any{"name": "mode", "type": 3, "description": "d", "choices": []any{map[string]any{"name": "http", "value": "http"}}}, 200},
		{"both", map[string]any{"name": "mode", "type": 3, "description": "d", "autocomplete": true, "choices": []any{map[string]any{"name": "http", "value": "http"}}}, 400},
		{"autocomplete on a boolean", map[string]any{"name": "share", "type": 5, "description": "d", "autocomplete": true}, 400},
	} {
		if code, body := post(t, "PUT", url, cmd(tc.opt)); code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.what, code, body, tc.code)
		}
	}
}

// The double refuses, as Discord documents, more than 25 subcommands in
// a command, a name Discord does not take, and a description too long.
func TestRegisteredCommandsAreBoundedAsDiscordDoes(t *testing.T) {
	s := New(t, Options{})
	url := s.APIURL() + "applications/123456789012345678/guilds/223456789012345678/commands"
	subs := func(n int, edit func(map[string]any)) []any {
		var opts []any
		for i := range n {
			o := map[string]any{"name": fmt.Sprintf("verb%d", i), "type": 1, "description": "d"}
			if i == 0 && edit != nil {
				edit(o)
			}
			opts = append(opts, o)
		}
		return []any{map[string]any{"name": "odoo", "type": 1, "description": "d", "options": opts}}
	}
	for _, tc := range []struct {
		what string
		cmds []any
		code int
	}{
		{"25 subcommands", subs(25, nil), 200},
		{"26 subcommands", subs(26, nil), 400},
		{"26 subcommands in a group", subs(1, func(o map[string]any) {
			o["type"] = 2
			o["options"] = subs(26, nil)[0].(map[string]any)["options"]
		}), 400},
		{"an upper-case name", subs(2, func(o map[string]any) { o["name"] = "Delete" }), 400},
		{"a description of 101 characters", subs(2, func(o map[string]any) { o["description"] = strings.Repeat("x", 101) }), 400},
	} {
		if code, body := post(t, "PUT", url, tc.cmds); code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.what, code, body, tc.code)
		}
	}
}
