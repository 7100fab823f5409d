// The 3D view of a job: part, sprues and supports in distinct colours; orbit and zoom with
// the mouse, a finger or the keyboard. Renders only when something changed (tablets).
import * as THREE from '../vendor/three/three.module.js';
import { OrbitControls } from '../vendor/three/addons/OrbitControls.js';
import { STLLoader } from '../vendor/three/addons/STLLoader.js';

export const COLOURS = {
  part: 0xd9b44a,     // gold: the piece itself
  sprues: 0xd2462d,   // red: sprues, what the metal flows through
  supports: 0x3d8fd6, // blue: supports, cut off after printing
  mesh: 0xc9c2b0,     // the repaired mesh when nothing is prepared yet
  thin: 0xff2bd6,     // magenta: spots the check found too thin to cast
};

function webglAvailable() {
  try {
    const canvas = document.createElement('canvas');
    return Boolean(canvas.getContext('webgl2') || canvas.getContext('webgl'));
  } catch {
    return false;
  }
}

/**
 * Show `layers` ([{kind, url, label}]) in `container`. Resolves with the list of layers
 * that loaded; throws an Error with a readable message when nothing can be shown.
 */
export async function showModel(container, layers, { markers = [] } = {}) {
  if (!webglAvailable()) {
    throw new Error('This browser cannot show 3D (WebGL is off). The files can still be downloaded below.');
  }
  const renderer = new THREE.WebGLRenderer({ antialias: true });
  renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
  renderer.setClearColor(0x1f2328);
  container.append(renderer.domElement);
  renderer.domElement.setAttribute('aria-hidden', 'true');

  const scene = new THREE.Scene();
  scene.add(new THREE.HemisphereLight(0xffffff, 0x444444, 1.6));
  const sun = new THREE.DirectionalLight(0xffffff, 1.6);
  scene.add(sun);
  const camera = new THREE.PerspectiveCamera(35, 4 / 3, 0.1, 5000);
  camera.up.set(0, 0, 1); // meshes are Z-up, in mm
  const controls = new OrbitControls(camera, renderer.domElement);
  controls.enableDamping = false;

  const loader = new STLLoader();
  const loaded = [];
  const failures = [];
  const group = new THREE.Group();
  await Promise.all(layers.map(async (layer) => {
    try {
      const geometry = await loader.loadAsync(layer.url);
      geometry.computeVertexNormals();
      const material = new THREE.MeshStandardMaterial({
        color: COLOURS[layer.kind] ?? COLOURS.mesh,
        metalness: layer.kind === 'part' ? 0.3 : 0.05,
        roughness: layer.kind === 'part' ? 0.35 : 0.6,
        side: THREE.DoubleSide,
      });
      const mesh = new THREE.Mesh(geometry, material);
      mesh.name = layer.kind;
      group.add(mesh);
      loaded.push(layer);
    } catch (err) {
      failures.push(`${layer.label}: ${err.message || err}`);
    }
  }));
  loaded.sort((a, b) => layers.indexOf(a) - layers.indexOf(b));
  if (!loaded.length) {
    renderer.dispose();
    renderer.domElement.remove();
    throw new Error(`The 3D files could not be loaded (${failures.join('; ')}).`);
  }
  // Thin spots: translucent spheres, drawn over the part so they are seen through it.
  for (const m of markers) {
    const sphere = new THREE.Mesh(
      new THREE.SphereGeometry(m.radius, 24, 16),
      new THREE.MeshBasicMaterial({ color: COLOURS.thin, transparent: true, opacity: 0.75, depthTest: false }),
    );
    sphere.position.set(m.at[0], m.at[1], m.at[2]);
    sphere.renderOrder = 1;
    sphere.name = 'thin';
    group.add(sphere);
  }
  scene.add(group);

  // Frame everything: look from the front-right, slightly above.
  const box = new THREE.Box3().setFromObject(group);
  const centre = box.getCenter(new THREE.Vector3());
  const size = box.getSize(new THREE.Vector3()).length() || 10;
  controls.target.copy(centre);
  camera.position.copy(centre).add(new THREE.Vector3(0.9, -1.3, 0.8).normalize().multiplyScalar(size * 1.5));
  camera.near = size / 200;
  camera.far = size * 50;
  controls.minDistance = size * 0.1;
  controls.maxDistance = size * 10;
  camera.updateProjectionMatrix();
  controls.update(); // points the camera at the target

  const grid = new THREE.GridHelper(Math.ceil(size * 1.5), 10, 0x666666, 0x3a3a3a);
  grid.rotation.x = Math.PI / 2;
  grid.position.set(centre.x, centre.y, box.min.z);
  scene.add(grid);

  const render = () => {
    sun.position.copy(camera.position);
    renderer.render(scene, camera);
  };
  const resize = () => {
    const w = container.clientWidth || 400;
    const h = container.clientHeight || 300;
    renderer.setSize(w, h, false);
    camera.aspect = w / h;
    camera.updateProjectionMatrix();
    render();
  };
  const observer = new ResizeObserver(resize);
  observer.observe(container);
  controls.addEventListener('change', render);

  // Keyboard: arrows orbit, + and - zoom, 0 resets. The container has tabindex=0.
  const spherical = new THREE.Spherical();
  const home = camera.position.clone();
  const onKey = (ev) => {
    const offset = camera.position.clone().sub(controls.target);
    spherical.setFromVector3(new THREE.Vector3(offset.x, offset.z, -offset.y)); // z-up → y-up
    const step = Math.PI / 24;
    let handled = true;
    if (ev.key === 'ArrowLeft') spherical.theta -= step;
    else if (ev.key === 'ArrowRight') spherical.theta += step;
    else if (ev.key === 'ArrowUp') spherical.phi = Math.max(0.05, spherical.phi - step);
    else if (ev.key === 'ArrowDown') spherical.phi = Math.min(Math.PI - 0.05, spherical.phi + step);
    else if (ev.key === '+' || ev.key === '=') spherical.radius = Math.max(controls.minDistance, spherical.radius * 0.85);
    else if (ev.key === '-' || ev.key === '_') spherical.radius = Math.min(controls.maxDistance, spherical.radius / 0.85);
    else if (ev.key === '0') { camera.position.copy(home); controls.update(); render(); ev.preventDefault(); return; }
    else handled = false;
    if (!handled) return;
    ev.preventDefault();
    const v = new THREE.Vector3().setFromSpherical(spherical);
    camera.position.copy(controls.target).add(new THREE.Vector3(v.x, -v.z, v.y));
    controls.update();
    render();
  };
  container.addEventListener('keydown', onKey);
  resize();
  const dispose = () => {
    observer.disconnect();
    container.removeEventListener('keydown', onKey);
    controls.dispose();
    group.traverse((o) => { if (o.geometry) o.geometry.dispose(); if (o.material) o.material.dispose(); });
    renderer.dispose();
    renderer.domElement.remove();
  };
  return { loaded, failures, dispose };
}
