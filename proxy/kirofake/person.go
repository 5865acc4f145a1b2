package kirofake

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Person acts for someone at a browser on the fake's sign-in pages, for
// tests and tryouts: Open (fit for SignInOptions.Open) loads a page, types
// into its form's visible fields, presses the button chosen with Press and
// follows the redirects (to the app's loopback callback for the portal).
// It is synchronous: the page is answered before a sign-in starts waiting.
// Safe for concurrent use.
type Person struct {
	client *http.Client

	mu     sync.Mutex
	button [2]string         // name, value of the button to press
	fields map[string]string // typed into the form's visible fields
	pages  int
	last   string
}

// NewPerson returns a Person that presses the button name=value.
func NewPerson(name, value string) *Person {
	return &Person{client: &http.Client{Timeout: 10 * time.Second}, button: [2]string{name, value}}
}

// Press chooses the button to press and the fields to type next time.
func (p *Person) Press(name, value string, fields map[string]string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.button, p.fields = [2]string{name, value}, fields
}

// LastPage is the page shown after the last form was submitted.
func (p *Person) LastPage() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// Pages counts the pages opened.
func (p *Person) Pages() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pages
}

var (
	pageFormRe  = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)">(.*?)</form>`)
	pageInputRe = regexp.MustCompile(`<(?:input|button)\b[^>]*>`)
	pageAttrRe  = regexp.MustCompile(`(\w+)="([^"]*)"`)
)

// Open loads u and submits its form. A page that loads anything (script,
// image, style sheet) is an error: the fake's pages are self-contained.
func (p *Person) Open(u string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pages++
	resp, err := p.client.Get(u)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if strings.Contains(page, "<script") || strings.Contains(page, "src=") || strings.Contains(page, "<link") {
		return fmt.Errorf("the page loads something: %s", page)
	}
	m := pageFormRe.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		return fmt.Errorf("no form on %s (%d): %s", u, resp.StatusCode, page)
	}
	form, pressed := url.Values{}, false
	for _, tag := range pageInputRe.FindAllString(m[2], -1) {
		a := map[string]string{}
		for _, kv := range pageAttrRe.FindAllStringSubmatch(tag, -1) {
			a[kv[1]] = html.UnescapeString(kv[2])
		}
		switch {
		case strings.HasPrefix(tag, "<button"):
			if a["name"] == p.button[0] && a["value"] == p.button[1] {
				form.Set(a["name"], a["value"])
				pressed = true
			}
		case a["type"] == "hidden":
			form.Set(a["name"], a["value"])
		default:
			v := a["value"]
			if f, ok := p.fields[a["name"]]; ok {
				v = f
			}
			form.Set(a["name"], v)
		}
	}
	if !pressed {
		return fmt.Errorf("no %s=%s button on %s: %s", p.button[0], p.button[1], u, page)
	}
	action, err := resp.Request.URL.Parse(m[1])
	if err != nil {
		return err
	}
	resp, err = p.client.PostForm(action.String(), form)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ = io.ReadAll(resp.Body)
	p.last = string(body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("submitting %s: %d %s", action, resp.StatusCode, body)
	}
	return nil
}
