package cnisim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/containernetworking/cni/libcni"
)

// confList loads conflist for this node's plugins: host-local's dataDir
// is the node's temporary directory, and whereabouts reads the node's flat
// configuration file (see UseWhereabouts).
func (n *Node) confList(conflist []byte) (*libcni.NetworkConfigList, error) {
	b, err := WithDataDir(conflist, n.ipamDir())
	if err != nil {
		return nil, err
	}
	if b, err = WithWhereaboutsConfig(b, n.whereaboutsConf()); err != nil {
		return nil, err
	}
	list, err := libcni.ConfListFromBytes(b)
	if err != nil {
		return nil, fmt.Errorf("loading the configuration list: %w", err)
	}
	return list, nil
}

// WithDataDir returns conflist with ipam.dataDir set to dir in every plugin
// whose IPAM is host-local, replacing any dataDir it had, so that the
// allocations land in dir instead of the machine's /var/lib/cni/networks.
// Nothing else changes; numbers keep their exact text. A single network
// configuration (no "plugins", as Multus also accepts in a
// NetworkAttachmentDefinition) becomes a list of that one plugin, as
// runtimes treat it.
func WithDataDir(conflist []byte, dir string) ([]byte, error) {
	return editIPAM(conflist, func(ipam map[string]any) error {
		if ipam["type"] == "host-local" {
			ipam["dataDir"] = dir
		}
		return nil
	})
}

// WithWhereaboutsConfig returns conflist with ipam.configuration_path set
// to path in every plugin whose IPAM is whereabouts: the node's flat
// configuration file, which a real node has at whereabouts' default
// /etc/cni/net.d/whereabouts.d/whereabouts.conf, and which names the
// kubeconfig whereabouts reaches the API server with. Without a path, a
// configuration that uses whereabouts is refused: whereabouts would read
// the machine's own files. Nothing else changes.
func WithWhereaboutsConfig(conflist []byte, path string) ([]byte, error) {
	return editIPAM(conflist, func(ipam map[string]any) error {
		if ipam["type"] != "whereabouts" {
			return nil
		}
		if path == "" {
			return errors.New("a whereabouts configuration on a node without whereabouts' configuration file (see Node.UseWhereabouts)")
		}
		ipam["configuration_path"] = path
		return nil
	})
}

// editIPAM decodes conflist (numbers keep their exact text; a single
// configuration becomes a list), applies edit to every plugin's ipam
// section and encodes it again.
func editIPAM(conflist []byte, edit func(ipam map[string]any) error) ([]byte, error) {
	var list map[string]any
	dec := json.NewDecoder(bytes.NewReader(conflist))
	dec.UseNumber()
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("parsing the CNI configuration: %w", err)
	}
	if _, ok := list["plugins"]; !ok {
		list = singleAsList(list)
	}
	plugins, ok := list["plugins"].([]any)
	if !ok {
		return nil, errors.New("CNI configuration list: plugins is not an array")
	}
	for i, p := range plugins {
		plugin, ok := p.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("CNI configuration list: plugin %d is not an object", i)
		}
		if ipam, ok := plugin["ipam"].(map[string]any); ok {
			if err := edit(ipam); err != nil {
				return nil, err
			}
		}
	}
	return json.Marshal(list)
}

// singleAsList turns a single network configuration into a list holding
// it, moving cniVersion and name up to the list.
func singleAsList(conf map[string]any) map[string]any {
	list := map[string]any{"cniVersion": conf["cniVersion"], "name": conf["name"]}
	plugin := make(map[string]any, len(conf))
	for k, v := range conf {
		if k != "cniVersion" && k != "name" {
			plugin[k] = v
		}
	}
	list["plugins"] = []any{plugin}
	return list
}
