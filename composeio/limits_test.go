package composeio

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadRefusesDevicesAndHugeInputs: a compose file that is a device, or a .env over the limit, is
// refused with the path and the reason, before compose-go reads a byte of it.
func TestLoadRefusesDevicesAndHugeInputs(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte("services:\n  a: {image: x}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(context.Background(), dir, WithProjectName("p"), WithFiles("compose.yaml", "/dev/zero"))
	if err == nil || !strings.Contains(err.Error(), "/dev/zero is not a regular file") {
		t.Fatalf("device as a compose file: err = %v", err)
	}

	env := filepath.Join(dir, ".env")
	f, err := os.Create(env)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxInputSize + 1); err != nil { // sparse: no disk needed
		t.Fatal(err)
	}
	f.Close()
	_, err = Load(context.Background(), dir, WithProjectName("p"))
	if err == nil || !strings.Contains(err.Error(), env+" is 16777217 bytes, over the limit") {
		t.Fatalf("huge .env: err = %v", err)
	}
}
