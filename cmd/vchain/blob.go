package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/vchain-dev/vchain/dpor/apps"
)

// Blobs: data kept off chain under its hash on a node (as CPChain keeps a
// trade's data in IPFS), encrypted before it leaves the client with a
// fresh key (XChaCha20-Poly1305), so the node holds ciphertext only.

func encryptItem(data []byte) (blob, key []byte, err error) {
	key = make([]byte, chacha20poly1305.KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, nil, err
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(data)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, err
	}
	return aead.Seal(nonce, nonce, data, nil), key, nil
}

func decryptItem(blob, key []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("item key: %w", err)
	}
	if len(blob) < aead.NonceSize() {
		return nil, errors.New("the blob is too short to be encrypted data")
	}
	out, err := aead.Open(nil, blob[:aead.NonceSize()], blob[aead.NonceSize():], nil)
	if err != nil {
		return nil, errors.New("the item key does not open this blob")
	}
	return out, nil
}

func newBlobCmd() *cobra.Command {
	var rpc, itemKey string
	cmd := &cobra.Command{Use: "blob", Short: "Encrypted data kept off chain under its hash on a DPoR node"}
	cmd.PersistentFlags().StringVar(&rpc, "rpc", "", "the node's API (http://HOST:PORT)")
	put := &cobra.Command{
		Use:   "put FILE",
		Short: "Encrypt FILE with a fresh key and store it on the node; prints the blob's hash and the key (hex)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			if len(data) > apps.DefaultMaxBlob-64 {
				return fmt.Errorf("%s: %d bytes, a blob holds at most %d", args[0], len(data), apps.DefaultMaxBlob-64)
			}
			blob, key, err := encryptItem(data)
			if err != nil {
				return err
			}
			cc, err := dialChain(rpc)
			if err != nil {
				return err
			}
			resp, err := cc.c.Post(cc.base+"/v1/blobs", "application/octet-stream", bytes.NewReader(blob))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var out struct{ Hash, Error string }
			json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&out)
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("node: %s (HTTP %d)", out.Error, resp.StatusCode)
			}
			sum := sha256.Sum256(blob)
			if out.Hash != hex.EncodeToString(sum[:]) {
				return fmt.Errorf("the node named the blob %s; its hash is %x", out.Hash, sum)
			}
			fmt.Fprintln(cmd.OutOrStdout(), out.Hash, hex.EncodeToString(key))
			return nil
		},
	}
	get := &cobra.Command{
		Use:   "get HASH --item-key HEX",
		Short: "Fetch a blob, check its hash, decrypt it with the item key and print it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := hex.DecodeString(strings.TrimSpace(itemKey))
			if err != nil || len(key) != chacha20poly1305.KeySize {
				return fmt.Errorf("--item-key: want %d bytes in hex", chacha20poly1305.KeySize)
			}
			cc, err := dialChain(rpc)
			if err != nil {
				return err
			}
			resp, err := cc.c.Get(cc.base + "/v1/blobs/" + args[0])
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			blob, err := io.ReadAll(io.LimitReader(resp.Body, apps.DefaultMaxBlob+1))
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("node: %s (HTTP %d)", strings.TrimSpace(string(blob)), resp.StatusCode)
			}
			if sum := sha256.Sum256(blob); hex.EncodeToString(sum[:]) != args[0] {
				return fmt.Errorf("the node's blob %s hashes to %x: not what was stored", args[0], sum)
			}
			data, err := decryptItem(blob, key)
			if err != nil {
				return err
			}
			cmd.OutOrStdout().Write(data)
			return nil
		},
	}
	get.Flags().StringVar(&itemKey, "item-key", "", "the key that encrypted the item (hex)")
	cmd.AddCommand(put, get)
	return cmd
}
