internal import CHDF5

extension HDF5File {
    /// The deepest group nesting `datasetPaths()` walks. Checkpoints nest a few levels (`layer1/0/conv1`);
    /// thousands of levels only make the walk slow and its paths long.
    public static let maximumGroupDepth = 32
    /// The most links `datasetPaths()` and `members(ofGroup:)` visit in one call. A state_dict of a large CNN
    /// has about a thousand entries; tens of thousands more only make listing take minutes.
    public static let maximumLinks = 65_536

    /// The paths of all datasets in the file, walking groups depth-first, sorted by name within a group.
    ///
    /// Paths are relative to the root without a leading `/` (`layer1/0/conv1/weight`). Soft links are not
    /// followed, and a group reachable twice (a hard-link cycle) is walked once.
    /// - Throws: `HDF5Error` naming the group that cannot be read, an external or user-defined link (objects
    ///   in another file: refused, libhdf5 would open that file), groups nested deeper than
    ///   `maximumGroupDepth` or more than `maximumLinks` links.
    public func datasetPaths() throws(HDF5Error) -> [String] {
        try withFile { file throws(HDF5Error) -> [String] in
            var walk = Walk()
            try collectDatasets(file, group: "", depth: 0, walk: &walk)
            return walk.paths
        }
    }

    /// The entries of a group, sorted by name.
    /// - Throws: `HDF5Error` when `group` does not exist or is not a group.
    public func members(ofGroup group: String = "/") throws(HDF5Error) -> [HDF5Member] {
        try withFile { file throws(HDF5Error) -> [HDF5Member] in try members(file, group: HDF5File.relative(group)) }
    }

    /// What `path` names, or `nil` when nothing by that name exists.
    /// - Throws: `HDF5Error` when the file cannot be read there.
    public func kind(of path: String) throws(HDF5Error) -> HDF5ObjectKind? {
        try withFile { file throws(HDF5Error) -> HDF5ObjectKind? in
            let absolute = HDF5File.absolute(path)
            guard H5.exists(file, absolute) else { return nil }
            let info = try step("cannot inspect", HDF5File.relative(path)) { () throws(HDF5CallFailure) in
                try H5.objectInfo(file, absolute)
            }
            return HDF5ObjectKind(info.kind)
        }
    }

    /// What one `datasetPaths()` walk has found and visited so far.
    private struct Walk {
        var paths: [String] = []
        var visited: Set<UInt64> = []
        var links = 0
    }

    private func members(_ file: hid_t, group: String, linksSoFar: Int = 0) throws(HDF5Error) -> [HDF5Member] {
        let name = group.isEmpty ? "/" : group
        let handle = try step("cannot open group", name) { () throws(HDF5CallFailure) in
            try H5.openGroup(file, HDF5File.absolute(group))
        }
        let limit = HDF5File.maximumLinks - linksSoFar
        let links = try step("cannot list group", name) { () throws(HDF5CallFailure) in
            try H5.links(handle.id, limit: limit)
        }
        guard let links else {
            let count = (try? step("cannot list group", name) { () throws(HDF5CallFailure) in
                try H5.linkCount(handle.id)
            }).map(String.init) ?? "more than \(limit)"
            throw error(
                name, "group holds \(count) links, more than camwatch lists in one file (\(HDF5File.maximumLinks))")
        }
        var members: [HDF5Member] = []
        for link in links {
            let member = try step("cannot list group", name) { () throws(HDF5CallFailure) -> HDF5Member in
                switch link.type {
                case .hard: HDF5Member(name: link.name, kind: HDF5ObjectKind(try H5.objectInfo(handle.id, link.name).kind))
                case .soft: HDF5Member(name: link.name, kind: .link)
                case .external, .userDefined: HDF5Member(name: link.name, kind: .externalLink)
                }
            }
            members.append(member)
        }
        return members.sorted { $0.name < $1.name }
    }

    private func collectDatasets(_ file: hid_t, group: String, depth: Int, walk: inout Walk) throws(HDF5Error) {
        let name = group.isEmpty ? "/" : group
        guard depth <= HDF5File.maximumGroupDepth else {
            throw error(name, "groups nested deeper than \(HDF5File.maximumGroupDepth) levels")
        }
        let handle = try step("cannot open group", name) { () throws(HDF5CallFailure) in
            try H5.openGroup(file, HDF5File.absolute(group))
        }
        let address = try step("cannot inspect group", name) { () throws(HDF5CallFailure) in
            try H5.objectInfo(handle.id, ".").address
        }
        guard walk.visited.insert(address).inserted else { return }
        let members = try members(file, group: group, linksSoFar: walk.links)
        walk.links += members.count
        for member in members {
            let path = group.isEmpty ? member.name : group + "/" + member.name
            switch member.kind {
            case .dataset: walk.paths.append(path)
            case .group: try collectDatasets(file, group: path, depth: depth + 1, walk: &walk)
            case .externalLink:
                throw error(path, "external link (an object in another file) refused: a checkpoint must hold its own data")
            case .link, .other: continue
            }
        }
    }
}

extension HDF5ObjectKind {
    init(_ kind: H5ObjectInfo.Kind) {
        switch kind {
        case .group: self = .group
        case .dataset: self = .dataset
        case .datatype, .other: self = .other
        }
    }
}
